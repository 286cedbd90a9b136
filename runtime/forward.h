// The forward pass: one object per generation stream, holding its backend (which owns the KV cache and
// the activation memory). The model code is written once here against runtime/backend.h; layers follow
// the model's architecture (llama/qwen2: RMSNorm, RoPE, GQA, SwiGLU, optional q/k/v biases; gpt2:
// LayerNorm, learned positions, fused QKV, GELU; Gemma, Phi-3, GPT-NeoX, EXAONE variants).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "runtime/backend.h"
#include "runtime/model.h"
#include "runtime/rope.h"

namespace ckpt::runtime {

class Forward {
 public:
  // On the CPU with n_threads.
  Forward(const Model& model, uint32_t n_ctx, unsigned n_threads, KvType kv_type = KvType::F16);
  // On any backend (make_backend).
  Forward(const Model& model, uint32_t n_ctx, std::unique_ptr<Backend> backend, KvType kv_type = KvType::F16);

  // Feeds `tokens` at positions n_past() .. n_past()+n-1. Returns the logits of the last token, or of
  // every token (n * n_vocab, token-major) when `all_logits`. Throws Error(InvalidArgument) past n_ctx
  // or for a token id outside the vocabulary.
  std::span<const float> eval(std::span<const int32_t> tokens, bool all_logits = false);

  uint32_t n_past() const { return n_past_; }
  uint32_t n_ctx() const { return n_ctx_; }
  KvType kv_type() const { return kv_type_; }
  void reset() { n_past_ = 0; }
  // Keeps the first n positions of the cache (a chat turn that shares a prefix with the last one).
  void rewind(uint32_t n) { n_past_ = std::min(n_past_, n); }
  const Model& model() const { return model_; }
  Backend& backend() { return *backend_; }

 private:
  void reserve(size_t n);
  void norm(const std::vector<float>& w, const std::vector<float>& b, const Buffer& out, size_t n);
  void attention(const Layer& layer, uint32_t il, size_t n);
  void feed_forward(const Layer& layer, size_t n);
  // x += tmp (tmp RMS-normalized by post_norm first when the block has one: Gemma).
  void add_residual(const std::vector<float>& post_norm, size_t n);

  const Model& model_;
  uint32_t n_ctx_;
  uint32_t n_past_ = 0;
  std::unique_ptr<Backend> backend_;
  KvType kv_type_;
  RopeTables rope_;
  size_t reserved_ = 0;  // tokens the buffers below hold
  Buffer x_, h_, ffn_in_, q_, k_, v_, qkv_, att_, tmp_, gate_, up_, logits_;
  std::vector<float> host_logits_;
};

}  // namespace ckpt::runtime
