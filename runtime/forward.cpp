#include "runtime/forward.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include <fmt/format.h>

#include "formats/error.h"
#include "formats/float_convert.h"
#include "quantize/quantize.h"
#include "runtime/dot.h"
#include "runtime/matmul.h"

namespace ckpt::runtime {
namespace {

// `out` may be `x` (every output reads only its own input after the sum).
void rms_norm(const float* x, const std::vector<float>& w, float eps, size_t n, float* out) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += double{x[i]} * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
  for (size_t i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

void layer_norm(const float* x, const std::vector<float>& w, const std::vector<float>& b, float eps, size_t n, float* out) {
  double mean = 0;
  for (size_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  double var = 0;
  for (size_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(n);
  const double inv = 1.0 / std::sqrt(var + eps);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>((x[i] - mean) * inv) * w[i] + b[i];
}

void add_bias(float* y, const std::vector<float>& b, size_t n_tokens) {
  if (b.empty()) return;
  for (size_t t = 0; t < n_tokens; ++t) {
    for (size_t i = 0; i < b.size(); ++i) y[t * b.size() + i] += b[i];
  }
}

float gelu(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
}

}  // namespace

Forward::Forward(const Model& model, uint32_t n_ctx, unsigned n_threads, KvType kv_type)
    : model_(model), n_ctx_(n_ctx), pool_(n_threads), kv_type_(kv_type) {
  const auto& hp = model.hp;
  if (n_ctx_ == 0) throw Error(ErrorCode::InvalidArgument, model.path, Error::kNoOffset, "n_ctx", "context size must be > 0");
  if (hp.arch == Arch::Gpt2 && n_ctx_ > hp.n_ctx_train) n_ctx_ = hp.n_ctx_train;  // learned positions end there
  const size_t kv_dim = size_t{hp.n_head_kv} * hp.head_dim;
  rope_ = rope_tables(model, n_ctx_);
  const size_t cache = size_t{hp.n_layer} * n_ctx_ * kv_dim;
  if (kv_type_ == KvType::F32) {
    k_cache_.assign(cache, 0.0f);
    v_cache_.assign(cache, 0.0f);
  } else {
    k_cache16_.assign(cache, 0);
    v_cache16_.assign(cache, 0);
  }
}

void Forward::embed(std::span<const int32_t> tokens) {
  const auto& hp = model_.hp;
  const Weight& e = model_.tok_embd;
  for (size_t t = 0; t < tokens.size(); ++t) {
    decode_to_f32(e.dtype, e.row(static_cast<uint64_t>(tokens[t])), {x_.data() + t * hp.n_embd, hp.n_embd});
  }
  if (hp.embd_scale != 1.0f) {
    for (size_t i = 0; i < tokens.size() * hp.n_embd; ++i) x_[i] *= hp.embd_scale;
  }
  if (hp.arch == Arch::Gpt2) {
    std::vector<float> pos(hp.n_embd);
    for (size_t t = 0; t < tokens.size(); ++t) {
      decode_to_f32(model_.pos_embd.dtype, model_.pos_embd.row(n_past_ + t), pos);
      for (size_t i = 0; i < hp.n_embd; ++i) x_[t * hp.n_embd + i] += pos[i];
    }
  }
}

void Forward::attention(const Layer& l, uint32_t il, size_t n) {
  const auto& hp = model_.hp;
  const size_t hd = hp.head_dim, q_dim = size_t{hp.n_head} * hd, kv_dim = size_t{hp.n_head_kv} * hd;
  if (l.wqkv.present()) {  // GPT-2, Phi-3: one projection, split into q, k, v
    qkv_.resize(n * (q_dim + 2 * kv_dim));
    matmul(l.wqkv, h_.data(), n, qkv_.data(), pool_);
    add_bias(qkv_.data(), l.bqkv, n);
    for (size_t t = 0; t < n; ++t) {
      const float* row = qkv_.data() + t * (q_dim + 2 * kv_dim);
      std::copy(row, row + q_dim, q_.data() + t * q_dim);
      std::copy(row + q_dim, row + q_dim + kv_dim, k_.data() + t * kv_dim);
      std::copy(row + q_dim + kv_dim, row + q_dim + 2 * kv_dim, v_.data() + t * kv_dim);
    }
  } else {
    matmul(l.wq, h_.data(), n, q_.data(), pool_);
    matmul(l.wk, h_.data(), n, k_.data(), pool_);
    matmul(l.wv, h_.data(), n, v_.data(), pool_);
    add_bias(q_.data(), l.bq, n);
    add_bias(k_.data(), l.bk, n);
    add_bias(v_.data(), l.bv, n);
  }
  if (hp.arch != Arch::Gpt2) {
    if (!l.attn_q_norm.empty()) {  // Qwen3, Gemma 3: each head RMS-normalized before rope (in place)
      for (size_t t = 0; t < n; ++t) {
        for (size_t h = 0; h < hp.n_head; ++h) {
          float* q = q_.data() + t * q_dim + h * hd;
          rms_norm(q, l.attn_q_norm, hp.norm_eps, hd, q);
        }
        for (size_t h = 0; h < hp.n_head_kv; ++h) {
          float* k = k_.data() + t * kv_dim + h * hd;
          rms_norm(k, l.attn_k_norm, hp.norm_eps, hd, k);
        }
      }
    }
    // RoPE on q and k: pairs (2i, 2i+1) or (i, i + d/2), angle pos * inv_freq[i].
    const size_t half = rope_.pairs(hp, il);
    const std::vector<float>& inv_freq = rope_.table(hp, il);
    for (size_t t = 0; t < n; ++t) {
      const double pos = static_cast<double>(n_past_ + t);
      for (size_t i = 0; i < half; ++i) {
        const double theta = pos * inv_freq[i];
        const float c = static_cast<float>(std::cos(theta)) * rope_.mscale, s = static_cast<float>(std::sin(theta)) * rope_.mscale;
        auto rotate = [&](float* head) {
          const size_t a = hp.rope_style == RopeStyle::Interleaved ? 2 * i : i;
          const size_t b = hp.rope_style == RopeStyle::Interleaved ? 2 * i + 1 : i + half;
          const float x0 = head[a], x1 = head[b];
          head[a] = x0 * c - x1 * s;
          head[b] = x0 * s + x1 * c;
        };
        for (size_t h = 0; h < hp.n_head; ++h) rotate(q_.data() + t * q_dim + h * hd);
        for (size_t h = 0; h < hp.n_head_kv; ++h) rotate(k_.data() + t * kv_dim + h * hd);
      }
    }
  }
  const size_t layer_offset = size_t{il} * n_ctx_ * kv_dim, pos_offset = size_t{n_past_} * kv_dim;
  if (kv_type_ == KvType::F32) {
    std::copy(k_.begin(), k_.begin() + static_cast<ptrdiff_t>(n * kv_dim), k_cache_.begin() + static_cast<ptrdiff_t>(layer_offset + pos_offset));
    std::copy(v_.begin(), v_.begin() + static_cast<ptrdiff_t>(n * kv_dim), v_cache_.begin() + static_cast<ptrdiff_t>(layer_offset + pos_offset));
  } else {
    convert_f32_to_f16({k_.data(), n * kv_dim}, {k_cache16_.data() + layer_offset + pos_offset, n * kv_dim});
    convert_f32_to_f16({v_.data(), n * kv_dim}, {v_cache16_.data() + layer_offset + pos_offset, n * kv_dim});
  }
  const size_t group = hp.n_head / hp.n_head_kv;
  const float scale = hp.attn_scale > 0 ? hp.attn_scale : 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t window = hp.is_swa(il) ? hp.n_swa : 0;  // keys at pos - window + 1 .. pos (llama.cpp's is_masked_swa)
  const size_t tasks = n * hp.n_head;
  std::atomic<size_t> next{0};
  pool_.run([&](unsigned) {
    std::vector<float> scores(n_past_ + n);
    for (;;) {
      const size_t task = next.fetch_add(1);
      if (task >= tasks) return;
      const size_t t = task / hp.n_head, h = task % hp.n_head, kvh = h / group;
      const size_t end = n_past_ + t + 1;  // causal: this token and everything before it
      const size_t first = window && end > window ? end - window : 0;
      const float* q = q_.data() + t * q_dim + h * hd;
      float* out = att_.data() + t * q_dim + h * hd;
      const size_t head = layer_offset + first * kv_dim + kvh * hd;
      if (kv_type_ == KvType::F32) {
        attend_head(q, k_cache_.data() + head, v_cache_.data() + head, end - first, kv_dim, hd, scale, hp.attn_softcap, scores.data(), out);
      } else {
        attend_head(q, k_cache16_.data() + head, v_cache16_.data() + head, end - first, kv_dim, hd, scale, hp.attn_softcap, scores.data(), out);
      }
    }
  });
  matmul(l.wo, att_.data(), n, tmp_.data(), pool_);
  add_bias(tmp_.data(), l.bo, n);
  add_residual(l.attn_post_norm, n);
}

void Forward::add_residual(const std::vector<float>& post_norm, size_t n) {
  const auto& hp = model_.hp;
  const size_t E = hp.n_embd;
  if (!post_norm.empty()) {
    for (size_t t = 0; t < n; ++t) rms_norm(tmp_.data() + t * E, post_norm, hp.norm_eps, E, tmp_.data() + t * E);
  }
  for (size_t i = 0; i < n * E; ++i) x_[i] += tmp_[i];
}

void Forward::feed_forward(const Layer& l, size_t n) {
  const auto& hp = model_.hp;
  const size_t E = hp.n_embd, F = hp.n_ff;
  if (hp.arch == Arch::Phi3) {  // gate and up fused, gate first
    gate_.resize(n * 2 * F);
    matmul(l.w_up, h_.data(), n, gate_.data(), pool_);
    for (size_t t = 0; t < n; ++t) {
      for (size_t i = 0; i < F; ++i) {
        const float g = gate_[t * 2 * F + i];
        up_[t * F + i] = gate_[t * 2 * F + F + i] * (g / (1.0f + std::exp(-g)));
      }
    }
    matmul(l.w_down, up_.data(), n, tmp_.data(), pool_);
    for (size_t i = 0; i < n * E; ++i) x_[i] += tmp_[i];
    return;
  }
  matmul(l.w_up, h_.data(), n, up_.data(), pool_);
  if (!l.w_gate.present()) {  // GPT-2, GPT-NeoX: GELU(up + b)
    add_bias(up_.data(), l.b_up, n);
    for (size_t i = 0; i < n * F; ++i) up_[i] = gelu(up_[i]);
  } else {
    matmul(l.w_gate, h_.data(), n, gate_.data(), pool_);
    if (hp.gelu_gate) {
      for (size_t i = 0; i < n * F; ++i) up_[i] *= gelu(gate_[i]);
    } else {
      for (size_t i = 0; i < n * F; ++i) {
        const float g = gate_[i];
        up_[i] *= g / (1.0f + std::exp(-g));
      }
    }
  }
  matmul(l.w_down, up_.data(), n, tmp_.data(), pool_);
  add_bias(tmp_.data(), l.b_down, n);
  add_residual(l.ffn_post_norm, n);
}

std::span<const float> Forward::eval(std::span<const int32_t> tokens, bool all_logits) {
  const auto& hp = model_.hp;
  const size_t n = tokens.size();
  if (n == 0) throw Error(ErrorCode::InvalidArgument, model_.path, Error::kNoOffset, "tokens", "nothing to evaluate");
  if (size_t{n_past_} + n > n_ctx_) {
    throw Error(ErrorCode::InvalidArgument, model_.path, Error::kNoOffset, "n_ctx",
                fmt::format("{} tokens after {} cached exceed the context of {}", n, n_past_, n_ctx_));
  }
  for (int32_t t : tokens) {
    if (t < 0 || static_cast<uint32_t>(t) >= hp.n_vocab) {
      throw Error(ErrorCode::InvalidArgument, model_.path, Error::kNoOffset, "token", fmt::format("id {} outside the vocabulary of {}", t, hp.n_vocab));
    }
  }
  const size_t E = hp.n_embd, q_dim = size_t{hp.n_head} * hp.head_dim, kv_dim = size_t{hp.n_head_kv} * hp.head_dim;
  x_.resize(n * E);
  h_.resize(n * E);
  tmp_.resize(n * E);
  q_.resize(n * q_dim);
  att_.resize(n * q_dim);
  k_.resize(n * kv_dim);
  v_.resize(n * kv_dim);
  up_.resize(n * hp.n_ff);
  gate_.resize(n * hp.n_ff);
  embed(tokens);
  auto norm = [&](const std::vector<float>& w, const std::vector<float>& b, std::vector<float>& out) {
    if (w.empty()) {  // EXAONE 4: blocks read the residual stream as it is
      std::copy(x_.begin(), x_.begin() + static_cast<ptrdiff_t>(n * E), out.begin());
      return;
    }
    for (size_t t = 0; t < n; ++t) {
      if (hp.layer_norm) {
        layer_norm(x_.data() + t * E, w, b, hp.norm_eps, E, out.data() + t * E);
      } else {
        rms_norm(x_.data() + t * E, w, hp.norm_eps, E, out.data() + t * E);
      }
    }
  };
  for (uint32_t il = 0; il < hp.n_layer; ++il) {
    const Layer& l = model_.layers[il];
    if (hp.parallel_residual) {  // both blocks read the layer's input: x + attn(ln1(x)) + ffn(ln2(x))
      ffn_in_.resize(n * E);
      norm(l.ffn_norm, l.ffn_norm_b, ffn_in_);
      norm(l.attn_norm, l.attn_norm_b, h_);
      attention(l, il, n);
      h_.swap(ffn_in_);
    } else {
      norm(l.attn_norm, l.attn_norm_b, h_);
      attention(l, il, n);
      norm(l.ffn_norm, l.ffn_norm_b, h_);
    }
    feed_forward(l, n);
  }
  norm(model_.output_norm, model_.output_norm_b, h_);
  const size_t first = all_logits ? 0 : n - 1, n_out = n - first;
  logits_.resize(n_out * hp.n_vocab);
  matmul(model_.output, h_.data() + first * E, n_out, logits_.data(), pool_);
  if (const float cap = hp.final_softcap; cap > 0) {
    for (float& v : logits_) v = cap * std::tanh(v / cap);
  }
  n_past_ += static_cast<uint32_t>(n);
  return logits_;
}

}  // namespace ckpt::runtime
