// The CPU backend: weights read where the loader mapped them, activations in host memory, the matmul
// and attention kernels of dot_*.cpp / tile_*.cpp spread over a thread pool.
#include <atomic>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "formats/float_convert.h"
#include "quantize/quantize.h"
#include "runtime/backend.h"
#include "runtime/dot.h"
#include "runtime/matmul.h"
#include "runtime/thread_pool.h"

namespace ckpt::runtime {
namespace {

// `out` may be `x` (every output reads only its own input after the sum).
void rms_norm(const float* x, const float* w, float eps, size_t n, float* out) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += double{x[i]} * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
  for (size_t i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

void layer_norm(const float* x, const float* w, const float* b, float eps, size_t n, float* out) {
  double mean = 0;
  for (size_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  double var = 0;
  for (size_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(n);
  const double inv = 1.0 / std::sqrt(var + eps);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>((x[i] - mean) * inv) * w[i] + b[i];
}

float gelu_tanh(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
}

float silu(float g) { return g / (1.0f + std::exp(-g)); }

void release_host(float* p) { std::free(p); }

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(unsigned n_threads) : pool_(n_threads) {}

  std::string name() const override { return fmt::format("cpu ({} threads, {})", pool_.size(), cpu_kernels_summary()); }
  bool is_cpu() const override { return true; }

  Buffer buffer(size_t n) override {
    // 64-byte aligned for the vector kernels.
    const size_t bytes = (std::max<size_t>(n, 1) * sizeof(float) + 63) / 64 * 64;
    auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!p) throw std::bad_alloc();
    return Buffer(p, n, release_host);
  }

  void init_kv_cache(uint32_t n_layer, uint32_t n_ctx, size_t kv_dim, KvType type) override {
    n_ctx_ = n_ctx;
    kv_dim_ = kv_dim;
    kv_type_ = type;
    const size_t cache = size_t{n_layer} * n_ctx * kv_dim;
    if (type == KvType::F32) {
      k_cache_.assign(cache, 0.0f);
      v_cache_.assign(cache, 0.0f);
    } else {
      k_cache16_.assign(cache, 0);
      v_cache16_.assign(cache, 0);
    }
  }

  void embed(const Weight& table, std::span<const int32_t> tokens, float scale, const Weight& positions, uint32_t pos0, float* x) override {
    const size_t E = table.cols;
    for (size_t t = 0; t < tokens.size(); ++t) decode_to_f32(table.dtype, table.row(static_cast<uint64_t>(tokens[t])), {x + t * E, E});
    if (scale != 1.0f) {
      for (size_t i = 0; i < tokens.size() * E; ++i) x[i] *= scale;
    }
    if (positions.present()) {
      std::vector<float> pos(E);
      for (size_t t = 0; t < tokens.size(); ++t) {
        decode_to_f32(positions.dtype, positions.row(pos0 + t), pos);
        for (size_t i = 0; i < E; ++i) x[t * E + i] += pos[i];
      }
    }
  }

  void norm(NormKind kind, const std::vector<float>& w, const std::vector<float>& b, float eps, const float* x, size_t n_rows, size_t dim,
            float* out) override {
    if (w.empty()) {
      if (out != x) std::copy(x, x + n_rows * dim, out);
      return;
    }
    for (size_t t = 0; t < n_rows; ++t) {
      if (kind == NormKind::Layer) {
        layer_norm(x + t * dim, w.data(), b.data(), eps, dim, out + t * dim);
      } else {
        rms_norm(x + t * dim, w.data(), eps, dim, out + t * dim);
      }
    }
  }

  void matmul(const Weight& w, const float* x, size_t n_tokens, float* y) override { runtime::matmul(w, x, n_tokens, y, pool_); }

  void add_bias(const std::vector<float>& b, float* y, size_t n_rows) override {
    for (size_t t = 0; t < n_rows; ++t) {
      for (size_t i = 0; i < b.size(); ++i) y[t * b.size() + i] += b[i];
    }
  }

  void copy_columns(const float* src, size_t src_stride, float* dst, size_t dst_stride, size_t width, size_t n_rows) override {
    for (size_t t = 0; t < n_rows; ++t) std::copy(src + t * src_stride, src + t * src_stride + width, dst + t * dst_stride);
  }

  void rope(const RopeParams& p, float* x, size_t n_tokens, size_t n_heads, size_t hd, uint32_t pos0) override {
    const std::vector<float>& inv_freq = *p.inv_freq;
    const bool interleaved = p.style == RopeStyle::Interleaved;
    for (size_t t = 0; t < n_tokens; ++t) {
      const double pos = static_cast<double>(pos0 + t);
      for (size_t i = 0; i < p.pairs; ++i) {
        const double theta = pos * inv_freq[i];
        const float c = static_cast<float>(std::cos(theta)) * p.mscale, s = static_cast<float>(std::sin(theta)) * p.mscale;
        const size_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + p.pairs;
        for (size_t h = 0; h < n_heads; ++h) {
          float* head = x + (t * n_heads + h) * hd;
          const float x0 = head[a], x1 = head[b];
          head[a] = x0 * c - x1 * s;
          head[b] = x0 * s + x1 * c;
        }
      }
    }
  }

  void attention(uint32_t il, const AttentionParams& p, const float* q, const float* k, const float* v, size_t n, uint32_t pos0,
                 float* out) override {
    const size_t hd = p.head_dim, q_dim = p.n_head * hd, kv_dim = kv_dim_;
    const size_t layer_offset = size_t{il} * n_ctx_ * kv_dim, pos_offset = size_t{pos0} * kv_dim;
    if (kv_type_ == KvType::F32) {
      std::copy(k, k + n * kv_dim, k_cache_.begin() + static_cast<ptrdiff_t>(layer_offset + pos_offset));
      std::copy(v, v + n * kv_dim, v_cache_.begin() + static_cast<ptrdiff_t>(layer_offset + pos_offset));
    } else {
      convert_f32_to_f16({k, n * kv_dim}, {k_cache16_.data() + layer_offset + pos_offset, n * kv_dim});
      convert_f32_to_f16({v, n * kv_dim}, {v_cache16_.data() + layer_offset + pos_offset, n * kv_dim});
    }
    const size_t group = p.n_head / p.n_head_kv, tasks = n * p.n_head;
    std::atomic<size_t> next{0};
    pool_.run([&](unsigned) {
      std::vector<float> scores(pos0 + n);
      for (;;) {
        const size_t task = next.fetch_add(1);
        if (task >= tasks) return;
        const size_t t = task / p.n_head, h = task % p.n_head, kvh = h / group;
        const size_t end = pos0 + t + 1;  // causal: this token and everything before it
        const size_t first = p.window && end > p.window ? end - p.window : 0;
        const size_t head = layer_offset + first * kv_dim + kvh * hd;
        if (kv_type_ == KvType::F32) {
          attend_head(q + t * q_dim + h * hd, k_cache_.data() + head, v_cache_.data() + head, end - first, kv_dim, hd, p.scale, p.softcap,
                      scores.data(), out + t * q_dim + h * hd);
        } else {
          attend_head(q + t * q_dim + h * hd, k_cache16_.data() + head, v_cache16_.data() + head, end - first, kv_dim, hd, p.scale,
                      p.softcap, scores.data(), out + t * q_dim + h * hd);
        }
      }
    });
  }

  void gated(GateActivation act, const float* gate, size_t gate_stride, const float* up, size_t up_stride, float* out, size_t n_rows,
             size_t width) override {
    for (size_t t = 0; t < n_rows; ++t) {
      const float* g = gate + t * gate_stride;
      const float* u = up + t * up_stride;
      float* o = out + t * width;
      if (act == GateActivation::Gelu) {
        for (size_t i = 0; i < width; ++i) o[i] = u[i] * gelu_tanh(g[i]);
      } else {
        for (size_t i = 0; i < width; ++i) o[i] = u[i] * silu(g[i]);
      }
    }
  }

  void gelu(float* x, size_t n) override {
    for (size_t i = 0; i < n; ++i) x[i] = gelu_tanh(x[i]);
  }

  void add(float* x, const float* y, size_t n) override {
    for (size_t i = 0; i < n; ++i) x[i] += y[i];
  }

  void softcap(float* x, size_t n, float cap) override {
    for (size_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
  }

  std::span<const float> to_host(const float* p, size_t n, std::vector<float>&) override { return {p, n}; }
  void from_host(std::span<const float> host, float* p) override { std::copy(host.begin(), host.end(), p); }

 private:
  ThreadPool pool_;
  uint32_t n_ctx_ = 0;
  size_t kv_dim_ = 0;
  KvType kv_type_ = KvType::F16;
  std::vector<float> k_cache_, v_cache_;         // [layer][pos][kv_dim], KvType::F32
  std::vector<uint16_t> k_cache16_, v_cache16_;  // the same as f16 bits, KvType::F16
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(unsigned n_threads) { return std::make_unique<CpuBackend>(n_threads); }

}  // namespace ckpt::runtime
