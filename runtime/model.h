// A loaded model: hyperparameters, tokenizer metadata and weight views, whatever file it came from.
// Weights stay where the loader found them (mapped GGUF / safetensors bytes) unless a transform was
// needed (GPT-2 Conv1D transposes, bitsandbytes NF4 absmax expansion), in which case the model owns them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "formats/tokenizer_meta.h"
#include "formats/dtype.h"

namespace ckpt::runtime {

enum class Arch { Llama, Qwen2, Qwen3, Phi3, Gpt2, Gemma2, Gemma3, GptNeox, Exaone, Exaone4 };

// How RoPE pairs dimensions: ggml's "normal" mode rotates (2i, 2i+1) (GGUF llama, whose Q/K rows the
// converter permuted); "neox" rotates (i, i + d/2) (HF llama weights as stored, Qwen2, GPT-NeoX).
enum class RopeStyle { Interleaved, Halves };

struct Hparams {
  Arch arch = Arch::Llama;
  std::string arch_name;
  uint32_t n_vocab = 0;
  uint32_t n_ctx_train = 0;
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t n_ff = 0;
  uint32_t head_dim = 0;    // n_embd / n_head unless the file says otherwise
  uint32_t rope_dims = 0;   // rotated dimensions per head (<= head_dim)
  float norm_eps = 1e-5f;
  float rope_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / scaling factor (linear and yarn)
  bool rope_yarn = false;        // YaRN: per-pair ramp between interpolated and extrapolated angles
  uint32_t yarn_orig_ctx = 0;    // rope.scaling.original_context_length (default: the training context)
  float rope_attn_factor = 1.0f; // rope.scaling.attn_factor
  RopeStyle rope_style = RopeStyle::Interleaved;
  // Gemma: embeddings scaled by sqrt(n_embd), GELU-gated feed-forward, soft-capped scores and logits
  // (tanh(x / cap) * cap; 0: none), and sliding-window layers with their own rope base and scale.
  bool layer_norm = false;         // LayerNorm with biases (GPT-2, GPT-NeoX) instead of RMSNorm
  bool parallel_residual = false;  // GPT-NeoX: x + attn(ln1(x)) + ffn(ln2(x))
  float embd_scale = 1.0f;
  float attn_scale = 0.0f;  // query scale; 0: 1 / sqrt(head_dim)
  float attn_softcap = 0.0f;
  float final_softcap = 0.0f;
  bool gelu_gate = false;
  uint32_t n_swa = 0;             // window of the sliding-window layers (keys pos-n_swa+1 .. pos)
  std::vector<bool> swa_layers;   // per layer; empty: none
  float rope_base_swa = 10000.0f;
  float rope_freq_scale_swa = 1.0f;
  bool rope_only_swa = false;     // EXAONE 4 with sliding windows: its global layers use no position encoding
  bool is_swa(uint32_t il) const { return il < swa_layers.size() && swa_layers[il]; }
};

// Weight encodings the matmul kernels understand: every ggml type the quantizer writes, plus
// bitsandbytes NF4/FP4 (4-bit codes into a 16-entry code book, two per byte, high nibble first, one
// f32 absmax per block of bnb4_block values; blocks never straddle rows).
// A LoRA adapter applied at run time: y += B (A x), B already scaled (and its rows in the weight's order).
struct LoraTerm {
  std::shared_ptr<const std::vector<float>> a;  // [r, cols]
  std::shared_ptr<const std::vector<float>> b;  // [rows, r]
  uint32_t r = 0;
};

struct Weight {
  std::string name;
  DType dtype = DType::F32;
  bool bnb4 = false;
  bool bnb4_fp4 = false;
  uint32_t bnb4_block = 64;
  uint64_t rows = 0, cols = 0;  // rows = output features (ggml ne[1]), cols = input features (ne[0])
  const std::byte* data = nullptr;
  uint64_t row_bytes = 0;
  std::span<const float> bnb4_absmax;  // rows * cols / bnb4_block values
  std::span<const float> bnb4_code;    // 16 values
  std::vector<LoraTerm> lora;          // run --lora: deltas added after the product
  std::shared_ptr<const std::vector<float>> dora_factor;  // DoRA: m / ||W + delta||, per row, applied last

  bool present() const { return data != nullptr; }
  std::span<const std::byte> row(uint64_t r) const { return {data + r * row_bytes, row_bytes}; }
  uint64_t bytes() const { return rows * row_bytes; }
  std::string type_name() const;
};

struct Layer {
  std::vector<float> attn_norm, attn_norm_b, ffn_norm, ffn_norm_b;  // empty for EXAONE 4 (post-norms only)
  std::vector<float> attn_q_norm, attn_k_norm;  // Qwen3, Gemma 3: RMSNorm of each q/k head before rope
  std::vector<float> attn_post_norm, ffn_post_norm;  // Gemma: RMSNorm of each block's output before the residual
  Weight wq, wk, wv, wqkv, wo, w_gate, w_up, w_down;
  std::vector<float> bq, bk, bv, bqkv, bo, b_up, b_down;
};

struct Model {
  std::string path;
  Hparams hp;
  TokenizerMeta vocab;
  Weight tok_embd, pos_embd, output;  // output may alias tok_embd (tied embeddings)
  std::vector<float> output_norm, output_norm_b;
  std::vector<float> rope_freq_factors;  // llama3-style per-dimension divisors (rope_freqs), may be empty
  // Phi-3 longrope: divisors for contexts past rope.scaling.original_context_length, and up to it.
  std::vector<float> rope_factors_long, rope_factors_short;
  std::vector<Layer> layers;
  bool hf_qk_rows = false;  // Q/K rows as HF stores them (not llama.cpp's permuted order)

  uint64_t weight_bytes() const;  // bytes of every matrix read per token (what decode streams)
  // Storage the weights point into: mapped files and buffers made at load time.
  std::vector<std::shared_ptr<const void>> keep_alive;
  std::vector<std::vector<float>> owned_f32;
};

// Loads a GGUF file (or split set), an HF checkpoint directory (safetensors / .bin, bitsandbytes 4-bit
// kept as NF4/FP4 codes where possible), or a llama2.c .bin when `tokenizer_bin` is given via a dir.
// Throws ckpt::Error naming the file and field at fault.
Model load_model(const std::string& path);

}  // namespace ckpt::runtime
