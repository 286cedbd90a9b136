// The forward pass: one object per generation stream, owning its KV cache and scratch buffers.
// Layers follow the model's architecture (llama/qwen2: RMSNorm, RoPE, GQA, SwiGLU, optional q/k/v
// biases; gpt2: LayerNorm, learned positions, fused QKV, GELU).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/model.h"
#include "runtime/rope.h"
#include "runtime/thread_pool.h"

namespace ckpt::runtime {

// The KV cache's element type: f16 halves its memory (llama.cpp's default too); f32 keeps the
// attention inputs exact (the float64-reference tests use it).
enum class KvType { F16, F32 };

class Forward {
 public:
  Forward(const Model& model, uint32_t n_ctx, unsigned n_threads, KvType kv_type = KvType::F16);

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

 private:
  void embed(std::span<const int32_t> tokens);
  void attention(const Layer& layer, uint32_t il, size_t n);
  void feed_forward(const Layer& layer, size_t n);
  // x += tmp (tmp RMS-normalized by post_norm first when the block has one: Gemma).
  void add_residual(const std::vector<float>& post_norm, size_t n);

  const Model& model_;
  uint32_t n_ctx_;
  uint32_t n_past_ = 0;
  ThreadPool pool_;
  KvType kv_type_;
  std::vector<float> k_cache_, v_cache_;          // [layer][pos][kv_dim], KvType::F32
  std::vector<uint16_t> k_cache16_, v_cache16_;   // the same as f16 bits, KvType::F16
  RopeTables rope_;
  std::vector<float> x_, h_, ffn_in_, q_, k_, v_, qkv_, att_, tmp_, gate_, up_, logits_;
};

}  // namespace ckpt::runtime
