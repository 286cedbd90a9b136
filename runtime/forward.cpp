#include "runtime/forward.h"

#include <cmath>

#include <fmt/format.h>

#include "formats/error.h"

namespace ckpt::runtime {

Forward::Forward(const Model& model, uint32_t n_ctx, unsigned n_threads, KvType kv_type)
    : Forward(model, n_ctx, make_cpu_backend(n_threads), kv_type) {}

Forward::Forward(const Model& model, uint32_t n_ctx, std::unique_ptr<Backend> backend, KvType kv_type)
    : model_(model), n_ctx_(n_ctx), backend_(std::move(backend)), kv_type_(kv_type) {
  const auto& hp = model.hp;
  if (n_ctx_ == 0) throw Error(ErrorCode::InvalidArgument, model.path, Error::kNoOffset, "n_ctx", "context size must be > 0");
  if (hp.arch == Arch::Gpt2 && n_ctx_ > hp.n_ctx_train) n_ctx_ = hp.n_ctx_train;  // learned positions end there
  rope_ = rope_tables(model, n_ctx_);
  backend_->init_kv_cache(hp.n_layer, n_ctx_, size_t{hp.n_head_kv} * hp.head_dim, kv_type_);
}

void Forward::reserve(size_t n) {
  if (n <= reserved_) return;
  const auto& hp = model_.hp;
  const size_t E = hp.n_embd, q_dim = size_t{hp.n_head} * hp.head_dim, kv_dim = size_t{hp.n_head_kv} * hp.head_dim;
  const size_t F = hp.n_ff;
  Backend& b = *backend_;
  x_ = b.buffer(n * E);
  h_ = b.buffer(n * E);
  ffn_in_ = b.buffer(hp.parallel_residual ? n * E : 0);
  tmp_ = b.buffer(n * E);
  q_ = b.buffer(n * q_dim);
  att_ = b.buffer(n * q_dim);
  k_ = b.buffer(n * kv_dim);
  v_ = b.buffer(n * kv_dim);
  bool fused_qkv = false;
  for (const Layer& l : model_.layers) fused_qkv = fused_qkv || l.wqkv.present();
  qkv_ = b.buffer(fused_qkv ? n * (q_dim + 2 * kv_dim) : 0);
  gate_ = b.buffer(n * (hp.arch == Arch::Phi3 ? 2 * F : F));  // Phi-3: gate and up fused
  up_ = b.buffer(n * F);
  logits_ = b.buffer(n * hp.n_vocab);
  reserved_ = n;
}

void Forward::norm(const std::vector<float>& w, const std::vector<float>& b, const Buffer& out, size_t n) {
  const auto& hp = model_.hp;
  // An empty w (EXAONE 4: blocks read the residual stream as it is) copies.
  backend_->norm(hp.layer_norm ? NormKind::Layer : NormKind::Rms, w, b, hp.norm_eps, x_.data(), n, hp.n_embd, out.data());
}

void Forward::attention(const Layer& l, uint32_t il, size_t n) {
  const auto& hp = model_.hp;
  Backend& be = *backend_;
  const size_t hd = hp.head_dim, q_dim = size_t{hp.n_head} * hd, kv_dim = size_t{hp.n_head_kv} * hd;
  if (l.wqkv.present()) {  // GPT-2, Phi-3: one projection, split into q, k, v
    const size_t width = q_dim + 2 * kv_dim;
    be.matmul(l.wqkv, h_.data(), n, qkv_.data());
    be.add_bias(l.bqkv, qkv_.data(), n);
    be.copy_columns(qkv_.data(), width, q_.data(), q_dim, q_dim, n);
    be.copy_columns(qkv_.data() + q_dim, width, k_.data(), kv_dim, kv_dim, n);
    be.copy_columns(qkv_.data() + q_dim + kv_dim, width, v_.data(), kv_dim, kv_dim, n);
  } else {
    be.matmul(l.wq, h_.data(), n, q_.data());
    be.matmul(l.wk, h_.data(), n, k_.data());
    be.matmul(l.wv, h_.data(), n, v_.data());
    be.add_bias(l.bq, q_.data(), n);
    be.add_bias(l.bk, k_.data(), n);
    be.add_bias(l.bv, v_.data(), n);
  }
  if (hp.arch != Arch::Gpt2) {
    if (!l.attn_q_norm.empty()) {  // Qwen3, Gemma 3: each head RMS-normalized before rope (in place)
      be.norm(NormKind::Rms, l.attn_q_norm, {}, hp.norm_eps, q_.data(), n * hp.n_head, hd, q_.data());
      be.norm(NormKind::Rms, l.attn_k_norm, {}, hp.norm_eps, k_.data(), n * hp.n_head_kv, hd, k_.data());
    }
    const RopeParams rope{rope_.pairs(hp, il), &rope_.table(hp, il), rope_.mscale, hp.rope_style};
    if (rope.pairs > 0) {
      be.rope(rope, q_.data(), n, hp.n_head, hd, n_past_);
      be.rope(rope, k_.data(), n, hp.n_head_kv, hd, n_past_);
    }
  }
  AttentionParams ap;
  ap.n_head = hp.n_head;
  ap.n_head_kv = hp.n_head_kv;
  ap.head_dim = hd;
  ap.scale = hp.attn_scale > 0 ? hp.attn_scale : 1.0f / std::sqrt(static_cast<float>(hd));
  ap.softcap = hp.attn_softcap;
  ap.window = hp.is_swa(il) ? hp.n_swa : 0;  // keys at pos - window + 1 .. pos (llama.cpp's is_masked_swa)
  be.attention(il, ap, q_.data(), k_.data(), v_.data(), n, n_past_, att_.data());
  be.matmul(l.wo, att_.data(), n, tmp_.data());
  be.add_bias(l.bo, tmp_.data(), n);
  add_residual(l.attn_post_norm, n);
}

void Forward::add_residual(const std::vector<float>& post_norm, size_t n) {
  const auto& hp = model_.hp;
  const size_t E = hp.n_embd;
  if (!post_norm.empty()) backend_->norm(NormKind::Rms, post_norm, {}, hp.norm_eps, tmp_.data(), n, E, tmp_.data());
  backend_->add(x_.data(), tmp_.data(), n * E);
}

void Forward::feed_forward(const Layer& l, size_t n) {
  const auto& hp = model_.hp;
  Backend& be = *backend_;
  const size_t E = hp.n_embd, F = hp.n_ff;
  if (hp.arch == Arch::Phi3) {  // gate and up fused, gate first
    be.matmul(l.w_up, h_.data(), n, gate_.data());
    be.gated(GateActivation::Silu, gate_.data(), 2 * F, gate_.data() + F, 2 * F, up_.data(), n, F);
    be.matmul(l.w_down, up_.data(), n, tmp_.data());
    be.add(x_.data(), tmp_.data(), n * E);
    return;
  }
  be.matmul(l.w_up, h_.data(), n, up_.data());
  if (!l.w_gate.present()) {  // GPT-2, GPT-NeoX: GELU(up + b)
    be.add_bias(l.b_up, up_.data(), n);
    be.gelu(up_.data(), n * F);
  } else {
    be.matmul(l.w_gate, h_.data(), n, gate_.data());
    be.gated(hp.gelu_gate ? GateActivation::Gelu : GateActivation::Silu, gate_.data(), F, up_.data(), F, up_.data(), n, F);
  }
  be.matmul(l.w_down, up_.data(), n, tmp_.data());
  be.add_bias(l.b_down, tmp_.data(), n);
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
  reserve(n);
  Backend& be = *backend_;
  const size_t E = hp.n_embd;
  static const Weight kNoPositions;
  be.embed(model_.tok_embd, tokens, hp.embd_scale, hp.arch == Arch::Gpt2 ? model_.pos_embd : kNoPositions, n_past_, x_.data());
  for (uint32_t il = 0; il < hp.n_layer; ++il) {
    const Layer& l = model_.layers[il];
    if (hp.parallel_residual) {  // both blocks read the layer's input: x + attn(ln1(x)) + ffn(ln2(x))
      norm(l.ffn_norm, l.ffn_norm_b, ffn_in_, n);
      norm(l.attn_norm, l.attn_norm_b, h_, n);
      attention(l, il, n);
      std::swap(h_, ffn_in_);
    } else {
      norm(l.attn_norm, l.attn_norm_b, h_, n);
      attention(l, il, n);
      norm(l.ffn_norm, l.ffn_norm_b, h_, n);
    }
    feed_forward(l, n);
  }
  norm(model_.output_norm, model_.output_norm_b, h_, n);
  const size_t first = all_logits ? 0 : n - 1, n_out = n - first;
  be.matmul(model_.output, h_.data() + first * E, n_out, logits_.data());
  if (const float cap = hp.final_softcap; cap > 0) be.softcap(logits_.data(), n_out * hp.n_vocab, cap);
  n_past_ += static_cast<uint32_t>(n);
  return be.to_host(logits_.data(), n_out * hp.n_vocab, host_logits_);
}

}  // namespace ckpt::runtime
