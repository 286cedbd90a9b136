// Every operation of the backend interface against float64 references written here, for each backend
// this machine has: the CPU always, CUDA when a device is present (skipped, saying why, otherwise).
// The model-level tests (forward_test, cuda_backend_test) check the same operations composed.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <fmt/format.h>

#include "quantize/quantize.h"
#include "runtime/runtime.h"
#include "tests/support/test_support.h"

namespace ckpt::runtime {
namespace {

class BackendOps : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "cuda") {
      std::string why;
      if (!cuda::device_available(&why)) GTEST_SKIP() << "CUDA backend operations not checked: " << why;
    }
    backend_ = make_backend(parse_device(GetParam()), empty_, 2);
  }

  Buffer upload(const std::vector<float>& v) {
    Buffer b = backend_->buffer(v.size());
    backend_->from_host(v, b.data());
    return b;
  }
  std::vector<float> download(const Buffer& b, size_t n) {
    std::vector<float> host;
    const auto s = backend_->to_host(b.data(), n, host);
    return {s.begin(), s.end()};
  }
  std::vector<float> random(size_t n, float scale = 1.0f) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng_);
    return v;
  }

  Model empty_;
  std::unique_ptr<Backend> backend_;
  std::mt19937_64 rng_{test::test_seed()};
};

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  EXPECT_LT(std::sqrt(num / std::max(den, 1e-300)), tol) << what;
}

TEST_P(BackendOps, NormsMatchTheirDefinitions) {
  const size_t rows = 3, dim = 96;
  const auto x = random(rows * dim, 2.0f), w = random(dim), b = random(dim);
  for (NormKind kind : {NormKind::Rms, NormKind::Layer}) {
    std::vector<double> want(rows * dim);
    for (size_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * dim;
      double mean = 0, sq = 0;
      for (size_t i = 0; i < dim; ++i) mean += xr[i], sq += double{xr[i]} * xr[i];
      mean /= dim;
      double var = 0;
      for (size_t i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      var /= dim;
      for (size_t i = 0; i < dim; ++i) {
        want[r * dim + i] = kind == NormKind::Rms ? xr[i] / std::sqrt(sq / dim + 1e-5) * w[i] : (xr[i] - mean) / std::sqrt(var + 1e-5) * w[i] + b[i];
      }
    }
    Buffer bx = upload(x), out = backend_->buffer(x.size());
    backend_->norm(kind, w, kind == NormKind::Layer ? b : std::vector<float>{}, 1e-5f, bx.data(), rows, dim, out.data());
    expect_close(download(out, x.size()), want, 1e-6, kind == NormKind::Rms ? "rms" : "layer");
    backend_->norm(kind, w, kind == NormKind::Layer ? b : std::vector<float>{}, 1e-5f, bx.data(), rows, dim, bx.data());  // in place
    expect_close(download(bx, x.size()), want, 1e-6, "in place");
  }
  // No weights: the rows as they are (EXAONE 4).
  Buffer bx = upload(x), out = backend_->buffer(x.size());
  backend_->norm(NormKind::Rms, {}, {}, 1e-5f, bx.data(), rows, dim, out.data());
  EXPECT_EQ(download(out, x.size()), x);
}

TEST_P(BackendOps, RopeRotatesPairsOfBothStyles) {
  const size_t n = 3, heads = 2, hd = 16;
  const uint32_t pairs = 6, pos0 = 5;  // partial rotation: the last 4 dimensions stay
  std::vector<float> inv_freq(pairs);
  for (uint32_t i = 0; i < pairs; ++i) inv_freq[i] = static_cast<float>(std::pow(10000.0, -2.0 * i / (2.0 * pairs)));
  for (RopeStyle style : {RopeStyle::Interleaved, RopeStyle::Halves}) {
    const auto x = random(n * heads * hd);
    std::vector<double> want(x.begin(), x.end());
    for (size_t t = 0; t < n; ++t) {
      for (size_t h = 0; h < heads; ++h) {
        for (uint32_t i = 0; i < pairs; ++i) {
          const double th = static_cast<double>(pos0 + t) * inv_freq[i];
          const size_t a = style == RopeStyle::Interleaved ? 2 * i : i, b = style == RopeStyle::Interleaved ? 2 * i + 1 : i + pairs;
          const size_t o = (t * heads + h) * hd;
          want[o + a] = 0.5 * (x[o + a] * std::cos(th) - x[o + b] * std::sin(th));
          want[o + b] = 0.5 * (x[o + a] * std::sin(th) + x[o + b] * std::cos(th));
        }
      }
    }
    Buffer bx = upload(x);
    backend_->rope({pairs, &inv_freq, 0.5f, style}, bx.data(), n, heads, hd, pos0);
    expect_close(download(bx, x.size()), want, 1e-6, style == RopeStyle::Interleaved ? "interleaved" : "halves");
  }
}

// Two calls (3 tokens, then 2 more): the second attends over all five cached positions.
TEST_P(BackendOps, AttentionOverTheCacheWithGqaWindowAndSoftcap) {
  const size_t n_head = 4, n_kv = 2, hd = 8, kv_dim = n_kv * hd, q_dim = n_head * hd;
  for (KvType kv : {KvType::F32, KvType::F16}) {
    for (const auto& [window, softcap] : std::vector<std::pair<size_t, float>>{{0, 0.0f}, {3, 0.0f}, {0, 1.5f}}) {
      backend_->init_kv_cache(2, 8, kv_dim, kv);
      const auto q = random(5 * q_dim), k = random(5 * kv_dim), v = random(5 * kv_dim);
      AttentionParams p;
      p.n_head = n_head;
      p.n_head_kv = n_kv;
      p.head_dim = hd;
      p.scale = 0.4f;
      p.softcap = softcap;
      p.window = window;
      auto part = [](const std::vector<float>& a, size_t from, size_t count) { return std::vector<float>(a.begin() + from, a.begin() + from + count); };
      Buffer q1 = upload(part(q, 0, 3 * q_dim)), k1 = upload(part(k, 0, 3 * kv_dim)), v1 = upload(part(v, 0, 3 * kv_dim)), o1 = backend_->buffer(3 * q_dim);
      backend_->attention(1, p, q1.data(), k1.data(), v1.data(), 3, 0, o1.data());
      Buffer q2 = upload(part(q, 3 * q_dim, 2 * q_dim)), k2 = upload(part(k, 3 * kv_dim, 2 * kv_dim)), v2 = upload(part(v, 3 * kv_dim, 2 * kv_dim)),
             o2 = backend_->buffer(2 * q_dim);
      backend_->attention(1, p, q2.data(), k2.data(), v2.data(), 2, 3, o2.data());
      std::vector<float> got = download(o1, 3 * q_dim);
      const auto more = download(o2, 2 * q_dim);
      got.insert(got.end(), more.begin(), more.end());
      std::vector<double> want(5 * q_dim);
      for (size_t t = 0; t < 5; ++t) {
        for (size_t h = 0; h < n_head; ++h) {
          const size_t kvh = h / (n_head / n_kv), first = window && t + 1 > window ? t + 1 - window : 0;
          std::vector<double> s;
          for (size_t j = first; j <= t; ++j) {
            double d = 0;
            for (size_t i = 0; i < hd; ++i) d += double{q[t * q_dim + h * hd + i]} * k[j * kv_dim + kvh * hd + i];
            d *= p.scale;
            if (softcap > 0) d = softcap * std::tanh(d / softcap);
            s.push_back(d);
          }
          const double m = *std::max_element(s.begin(), s.end());
          double sum = 0;
          for (double& e : s) sum += (e = std::exp(e - m));
          for (size_t i = 0; i < hd; ++i) {
            double o = 0;
            for (size_t j = first; j <= t; ++j) o += s[j - first] / sum * v[j * kv_dim + kvh * hd + i];
            want[t * q_dim + h * hd + i] = o;
          }
        }
      }
      // f16 keeps 11 significant bits of each cached key and value.
      expect_close(got, want, kv == KvType::F32 ? 1e-6 : 2e-3, fmt::format("kv {} window {} softcap {}", kv == KvType::F32 ? "f32" : "f16", window, softcap));
    }
  }
}

TEST_P(BackendOps, ElementwiseOperations) {
  const size_t rows = 3, width = 40;
  const auto gate = random(rows * 2 * width), up = random(rows * width), b = random(width);
  auto silu = [](double g) { return g / (1 + std::exp(-g)); };
  auto gelu = [](double x) { return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); };
  for (GateActivation act : {GateActivation::Silu, GateActivation::Gelu}) {
    // The gate read with a stride of 2 * width (Phi-3's fused gate-up layout), written over `up`.
    std::vector<double> want(rows * width);
    for (size_t t = 0; t < rows; ++t) {
      for (size_t i = 0; i < width; ++i) {
        const double g = gate[t * 2 * width + i];
        want[t * width + i] = up[t * width + i] * (act == GateActivation::Silu ? silu(g) : gelu(g));
      }
    }
    Buffer bg = upload(gate), bu = upload(up);
    backend_->gated(act, bg.data(), 2 * width, bu.data(), width, bu.data(), rows, width);
    expect_close(download(bu, up.size()), want, 1e-6, act == GateActivation::Silu ? "silu" : "gelu gate");
  }
  {
    std::vector<double> want(up.size());
    for (size_t i = 0; i < up.size(); ++i) want[i] = gelu(up[i]);
    Buffer bu = upload(up);
    backend_->gelu(bu.data(), up.size());
    expect_close(download(bu, up.size()), want, 1e-6, "gelu");
  }
  {
    std::vector<double> want(up.size());
    for (size_t i = 0; i < up.size(); ++i) want[i] = 2.0 * std::tanh(up[i] * 3.0 / 2.0);
    std::vector<float> scaled(up);
    for (auto& x : scaled) x *= 3.0f;
    Buffer bu = upload(scaled);
    backend_->softcap(bu.data(), up.size(), 2.0f);
    expect_close(download(bu, up.size()), want, 1e-6, "softcap");
  }
  {
    std::vector<double> want(up.size());
    for (size_t i = 0; i < up.size(); ++i) want[i] = double{up[i]} + gate[i] + b[i % width];
    Buffer bu = upload(up), bg = upload(gate);
    backend_->add(bu.data(), bg.data(), up.size());
    backend_->add_bias(b, bu.data(), rows);
    expect_close(download(bu, up.size()), want, 1e-7, "add, add_bias");
  }
  {
    // Columns 5..5+7 of each 2*width row into rows of 9 (the last 2 left as they were).
    std::vector<float> dst_init(rows * 9, -1.0f);
    Buffer src = upload(gate), dst = upload(dst_init);
    backend_->copy_columns(src.data() + 5, 2 * width, dst.data(), 9, 7, rows);
    const auto got = download(dst, dst_init.size());
    for (size_t t = 0; t < rows; ++t) {
      for (size_t i = 0; i < 9; ++i) EXPECT_EQ(got[t * 9 + i], i < 7 ? gate[t * 2 * width + 5 + i] : -1.0f);
    }
  }
}

// A matrix of `type` with its bytes kept alive by the caller.
Weight make_weight(DType type, const std::vector<float>& values, uint64_t rows, uint64_t cols, std::vector<std::byte>& storage) {
  storage.resize(*dtype_bytes_for(type, values.size()));
  encode_from_f32(type, values, storage);
  Weight w;
  w.name = "w";
  w.dtype = type;
  w.rows = rows;
  w.cols = cols;
  w.row_bytes = *dtype_bytes_for(type, cols);
  w.data = storage.data();
  return w;
}

TEST_P(BackendOps, EmbedDecodesRowsScalesAndAddsPositions) {
  const uint64_t vocab = 11, E = 64;
  const auto table = random(vocab * E), positions = random(16 * E);
  std::vector<std::byte> s1, s2;
  for (DType type : {DType::F32, DType::F16, DType::Q8_0}) {
    const Weight t = make_weight(type, table, vocab, E, s1), p = make_weight(DType::F32, positions, 16, E, s2);
    std::vector<float> decoded(table.size());
    decode_to_f32(type, s1, decoded);  // the scalar dequantizer: the oracle for the table's rows
    const std::vector<int32_t> ids = {3, 10, 0, 3};
    Buffer x = backend_->buffer(ids.size() * E);
    backend_->embed(t, ids, 1.5f, p, 7, x.data());
    std::vector<double> want(ids.size() * E);
    for (size_t i = 0; i < ids.size(); ++i) {
      for (size_t j = 0; j < E; ++j) want[i * E + j] = 1.5 * decoded[static_cast<size_t>(ids[i]) * E + j] + positions[(7 + i) * E + j];
    }
    expect_close(download(x, want.size()), want, 1e-7, std::string(dtype_name(type)));
  }
}

// Products for 1, 3 and 20 tokens (decode, small batches, prompt batches), with a LoRA term and a
// DoRA factor on the f32 weight.
TEST_P(BackendOps, MatmulWithLoraAndDora) {
  const uint64_t rows = 40, cols = 256;
  const auto wv = random(rows * cols, 0.1f);
  for (DType type : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_K}) {
    std::vector<std::byte> storage;
    Weight w = make_weight(type, wv, rows, cols, storage);
    std::vector<float> decoded(wv.size());
    decode_to_f32(type, storage, decoded);
    LoraTerm l;
    l.r = 3;
    l.a = std::make_shared<std::vector<float>>(random(3 * cols, 0.1f));
    l.b = std::make_shared<std::vector<float>>(random(rows * 3, 0.1f));
    const bool adapters = type == DType::F32;
    if (adapters) {
      w.lora.push_back(l);
      w.dora_factor = std::make_shared<std::vector<float>>(random(rows, 1.0f));
    }
    for (size_t n : {1u, 3u, 20u}) {
      const auto x = random(n * cols);
      std::vector<double> want(n * rows);
      for (size_t t = 0; t < n; ++t) {
        std::vector<double> u(3, 0.0);
        for (uint32_t k = 0; k < 3; ++k) {
          for (uint64_t c = 0; c < cols; ++c) u[k] += double{(*l.a)[k * cols + c]} * x[t * cols + c];
        }
        for (uint64_t r = 0; r < rows; ++r) {
          double y = 0;
          for (uint64_t c = 0; c < cols; ++c) y += double{decoded[r * cols + c]} * x[t * cols + c];
          if (adapters) {
            for (uint32_t k = 0; k < 3; ++k) y += double{(*l.b)[r * 3 + k]} * u[k];
            y *= (*w.dora_factor)[r];
          }
          want[t * rows + r] = y;
        }
      }
      Buffer bx = upload(x), by = backend_->buffer(n * rows);
      backend_->matmul(w, bx.data(), n, by.data());
      // Float weights: f32 sums (the CPU) or f16 tiles (CUDA batches). Block types: the CPU's 8-bit
      // activations (ggml's scheme), ~0.5% per product.
      const double tol = type == DType::F32 ? 1e-5 : type == DType::F16 ? 2e-3 : 1.5e-2;
      expect_close(download(by, want.size()), want, tol, fmt::format("{} x {} tokens", dtype_name(type), n));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendOps, ::testing::Values("cpu", "cuda"), [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ckpt::runtime
