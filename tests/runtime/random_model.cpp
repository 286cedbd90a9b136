#include "tests/runtime/random_model.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "formats/byte_sink.h"
#include "formats/gguf.h"
#include "quantize/quantize.h"

namespace ckpt::test {
namespace {

struct Shape {
  uint64_t rows, cols;
};

std::map<std::string, Shape> tensor_shapes(const RandomModelSpec& s) {
  const uint64_t hd = s.n_embd / s.n_head, q = uint64_t{s.n_head} * hd, kv = uint64_t{s.n_head_kv} * hd;
  std::map<std::string, Shape> t;
  const bool gpt2 = s.arch == "gpt2";
  if (s.llama3_rope_freqs) t["rope_freqs.weight"] = {1, hd / 2};
  t["token_embd.weight"] = {s.n_vocab, s.n_embd};
  t["output_norm.weight"] = {1, s.n_embd};
  if (!s.tied_output) t["output.weight"] = {s.n_vocab, s.n_embd};
  if (gpt2) {
    t["output_norm.bias"] = {1, s.n_embd};
    t["position_embd.weight"] = {s.n_ctx, s.n_embd};
  }
  for (uint32_t i = 0; i < s.n_layer; ++i) {
    const std::string p = fmt::format("blk.{}.", i);
    t[p + "attn_norm.weight"] = {1, s.n_embd};
    t[p + "ffn_norm.weight"] = {1, s.n_embd};
    t[p + "attn_output.weight"] = {s.n_embd, q};
    t[p + "ffn_up.weight"] = {s.n_ff, s.n_embd};
    t[p + "ffn_down.weight"] = {s.n_embd, s.n_ff};
    if (gpt2) {
      t[p + "attn_norm.bias"] = {1, s.n_embd};
      t[p + "ffn_norm.bias"] = {1, s.n_embd};
      t[p + "attn_qkv.weight"] = {q + 2 * kv, s.n_embd};
      t[p + "attn_qkv.bias"] = {1, q + 2 * kv};
      t[p + "attn_output.bias"] = {1, s.n_embd};
      t[p + "ffn_up.bias"] = {1, s.n_ff};
      t[p + "ffn_down.bias"] = {1, s.n_embd};
    } else {
      t[p + "attn_q.weight"] = {q, s.n_embd};
      t[p + "attn_k.weight"] = {kv, s.n_embd};
      t[p + "attn_v.weight"] = {kv, s.n_embd};
      t[p + "ffn_gate.weight"] = {s.n_ff, s.n_embd};
      if (s.arch == "qwen2") {
        t[p + "attn_q.bias"] = {1, q};
        t[p + "attn_k.bias"] = {1, kv};
        t[p + "attn_v.bias"] = {1, kv};
      }
    }
  }
  return t;
}

bool is_matrix(const std::string& name, const Shape& s) { return s.rows > 1 && name.ends_with(".weight"); }

}  // namespace

RandomModel write_random_model(const RandomModelSpec& spec, const std::string& path) {
  RandomModel m{spec, {}, {}};
  std::mt19937_64 rng(spec.seed);
  std::vector<GgufKv> kvs;
  const std::string a = spec.arch;
  kvs.push_back({"general.architecture", {a}, 0});
  kvs.push_back({a + ".block_count", {spec.n_layer}, 0});
  kvs.push_back({a + ".context_length", {spec.n_ctx}, 0});
  kvs.push_back({a + ".embedding_length", {spec.n_embd}, 0});
  kvs.push_back({a + ".feed_forward_length", {spec.n_ff}, 0});
  kvs.push_back({a + ".attention.head_count", {spec.n_head}, 0});
  kvs.push_back({a + ".attention.head_count_kv", {spec.n_head_kv}, 0});
  if (a == "gpt2") {
    kvs.push_back({a + ".attention.layer_norm_epsilon", {1e-5f}, 0});
  } else {
    kvs.push_back({a + ".attention.layer_norm_rms_epsilon", {1e-5f}, 0});
    kvs.push_back({a + ".rope.freq_base", {spec.rope_base}, 0});
    if (spec.rope_scale_factor > 0) {
      kvs.push_back({a + ".rope.scaling.type", {std::string("linear")}, 0});
      kvs.push_back({a + ".rope.scaling.factor", {spec.rope_scale_factor}, 0});
    }
  }
  for (auto& kv : kvs) {
    if (const auto it = spec.override_u32.find(kv.key); it != spec.override_u32.end()) kv.value = GgufValue{it->second};
    if (kv.key == "general.architecture" && !spec.override_arch.empty()) kv.value = GgufValue{spec.override_arch};
  }
  std::vector<GgufTensorToWrite> tensors;
  std::vector<std::vector<std::byte>> blobs;
  const auto shapes = tensor_shapes(spec);
  blobs.reserve(shapes.size());
  for (const auto& [name, shape] : shapes) {
    const bool matrix = is_matrix(name, shape);
    std::vector<float> values(shape.rows * shape.cols);
    // Matrices ~ N(0, 1/fan_in) keep activations O(1); norms near 1; biases and embeddings small.
    const bool norm = name.find("_norm.weight") != std::string::npos || name == "rope_freqs.weight";
    std::normal_distribution<float> dist(norm ? 1.0f : 0.0f,
                                         norm ? 0.1f : matrix && name.find("embd") == std::string::npos
                                                           ? 1.0f / std::sqrt(static_cast<float>(shape.cols))
                                                           : 0.5f);
    for (auto& v : values) v = dist(rng);
    if (name == "rope_freqs.weight") {
      // Llama-3.1's shape: 1 for high frequencies, growing to the scaling factor for low ones.
      for (size_t i = 0; i < values.size(); ++i) values[i] = 1.0f + 7.0f * static_cast<float>(i) / static_cast<float>(values.size());
    }
    const DType t = matrix ? spec.weight_type : DType::F32;
    std::vector<std::byte> bytes(*dtype_bytes_for(t, values.size()));
    encode_from_f32(t, values, bytes);
    std::vector<float> stored(values.size());
    decode_to_f32(t, bytes, stored);
    m.original[name] = std::move(values);
    m.stored[name] = std::move(stored);
    blobs.push_back(std::move(bytes));
    const auto* blob = &blobs.back();
    if (std::find(spec.drop_tensors.begin(), spec.drop_tensors.end(), name) != spec.drop_tensors.end()) continue;
    std::vector<uint64_t> ne = shape.rows > 1 ? std::vector<uint64_t>{shape.cols, shape.rows} : std::vector<uint64_t>{shape.cols};
    tensors.push_back({name, ne, t, [blob](ByteSink& sink) { sink.write(*blob); }});
  }
  write_gguf(path, kvs, tensors);
  return m;
}

namespace {

using Vec = std::vector<double>;

Vec matvec(const std::vector<float>& w, const Vec& x, size_t rows) {
  const size_t cols = x.size();
  Vec y(rows, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    double s = 0;
    for (size_t c = 0; c < cols; ++c) s += double{w[r * cols + c]} * x[c];
    y[r] = s;
  }
  return y;
}

void add(Vec& y, const std::vector<float>* b) {
  if (!b) return;
  for (size_t i = 0; i < y.size(); ++i) y[i] += (*b)[i];
}

}  // namespace

std::vector<double> reference_logits(const RandomModelSpec& s, const std::map<std::string, std::vector<float>>& w,
                                     const std::vector<int32_t>& tokens) {
  auto W = [&](const std::string& n) -> const std::vector<float>& {
    const auto it = w.find(n);
    if (it == w.end()) throw std::runtime_error("reference: missing " + n);
    return it->second;
  };
  auto opt = [&](const std::string& n) -> const std::vector<float>* {
    const auto it = w.find(n);
    return it == w.end() ? nullptr : &it->second;
  };
  const bool gpt2 = s.arch == "gpt2";
  const size_t E = s.n_embd, hd = E / s.n_head, qd = s.n_head * hd, kvd = s.n_head_kv * hd;
  auto norm = [&](const Vec& x, const std::string& name) {
    Vec out(E);
    const auto& g = W(name + ".weight");
    if (gpt2) {
      double mean = 0, var = 0;
      for (double v : x) mean += v;
      mean /= static_cast<double>(E);
      for (double v : x) var += (v - mean) * (v - mean);
      var /= static_cast<double>(E);
      const auto& b = W(name + ".bias");
      for (size_t i = 0; i < E; ++i) out[i] = (x[i] - mean) / std::sqrt(var + 1e-5) * g[i] + b[i];
    } else {
      double ss = 0;
      for (double v : x) ss += v * v;
      const double scale = 1.0 / std::sqrt(ss / static_cast<double>(E) + 1e-5);
      for (size_t i = 0; i < E; ++i) out[i] = x[i] * scale * g[i];
    }
    return out;
  };
  // ggml rope: llama GGUF rotates adjacent pairs, qwen2 (neox) rotates i with i + hd/2.
  auto rope = [&](Vec& v, size_t n_heads, size_t pos) {
    const double scale = s.rope_scale_factor > 0 ? 1.0 / s.rope_scale_factor : 1.0;
    for (size_t h = 0; h < n_heads; ++h) {
      for (size_t i = 0; i < hd / 2; ++i) {
        double theta = static_cast<double>(pos) * scale * std::pow(double{s.rope_base}, -2.0 * static_cast<double>(i) / hd);
        if (s.llama3_rope_freqs) theta /= W("rope_freqs.weight")[i];
        const size_t a = s.arch == "qwen2" ? i : 2 * i, b = s.arch == "qwen2" ? i + hd / 2 : 2 * i + 1;
        const double x0 = v[h * hd + a], x1 = v[h * hd + b];
        v[h * hd + a] = x0 * std::cos(theta) - x1 * std::sin(theta);
        v[h * hd + b] = x0 * std::sin(theta) + x1 * std::cos(theta);
      }
    }
  };
  std::vector<std::vector<Vec>> kcache(s.n_layer), vcache(s.n_layer);
  std::vector<double> logits;
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    Vec x(E);
    for (size_t i = 0; i < E; ++i) x[i] = W("token_embd.weight")[static_cast<size_t>(tokens[pos]) * E + i];
    if (gpt2) {
      for (size_t i = 0; i < E; ++i) x[i] += W("position_embd.weight")[pos * E + i];
    }
    for (uint32_t l = 0; l < s.n_layer; ++l) {
      const std::string p = fmt::format("blk.{}.", l);
      Vec h = norm(x, p + "attn_norm");
      Vec q, k, v;
      if (gpt2) {
        Vec qkv = matvec(W(p + "attn_qkv.weight"), h, qd + 2 * kvd);
        add(qkv, &W(p + "attn_qkv.bias"));
        q.assign(qkv.begin(), qkv.begin() + static_cast<ptrdiff_t>(qd));
        k.assign(qkv.begin() + static_cast<ptrdiff_t>(qd), qkv.begin() + static_cast<ptrdiff_t>(qd + kvd));
        v.assign(qkv.begin() + static_cast<ptrdiff_t>(qd + kvd), qkv.end());
      } else {
        q = matvec(W(p + "attn_q.weight"), h, qd);
        k = matvec(W(p + "attn_k.weight"), h, kvd);
        v = matvec(W(p + "attn_v.weight"), h, kvd);
        add(q, opt(p + "attn_q.bias"));
        add(k, opt(p + "attn_k.bias"));
        add(v, opt(p + "attn_v.bias"));
        rope(q, s.n_head, pos);
        rope(k, s.n_head_kv, pos);
      }
      kcache[l].push_back(k);
      vcache[l].push_back(v);
      Vec att(qd, 0.0);
      for (size_t head = 0; head < s.n_head; ++head) {
        const size_t kvh = head / (s.n_head / s.n_head_kv);
        std::vector<double> sc(pos + 1);
        double mx = -1e300;
        for (size_t j = 0; j <= pos; ++j) {
          double d = 0;
          for (size_t i = 0; i < hd; ++i) d += q[head * hd + i] * kcache[l][j][kvh * hd + i];
          sc[j] = d / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (auto& e : sc) sum += (e = std::exp(e - mx));
        for (size_t j = 0; j <= pos; ++j) {
          for (size_t i = 0; i < hd; ++i) att[head * hd + i] += sc[j] / sum * vcache[l][j][kvh * hd + i];
        }
      }
      Vec o = matvec(W(p + "attn_output.weight"), att, E);
      add(o, opt(p + "attn_output.bias"));
      for (size_t i = 0; i < E; ++i) x[i] += o[i];
      h = norm(x, p + "ffn_norm");
      Vec up = matvec(W(p + "ffn_up.weight"), h, s.n_ff);
      if (gpt2) {
        add(up, &W(p + "ffn_up.bias"));
        for (auto& u : up) u = 0.5 * u * (1 + std::tanh(std::sqrt(2 / M_PI) * (u + 0.044715 * u * u * u)));
      } else {
        const Vec gate = matvec(W(p + "ffn_gate.weight"), h, s.n_ff);
        for (size_t i = 0; i < up.size(); ++i) up[i] *= gate[i] / (1 + std::exp(-gate[i]));
      }
      Vec down = matvec(W(p + "ffn_down.weight"), up, E);
      add(down, opt(p + "ffn_down.bias"));
      for (size_t i = 0; i < E; ++i) x[i] += down[i];
    }
    const Vec out = norm(x, "output_norm");
    const Vec lg = matvec(s.tied_output ? W("token_embd.weight") : W("output.weight"), out, s.n_vocab);
    logits.insert(logits.end(), lg.begin(), lg.end());
  }
  return logits;
}

}  // namespace ckpt::test
