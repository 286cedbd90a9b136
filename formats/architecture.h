// One table per architecture: HF tensor names -> GGUF names (with the per-tensor transform), and HF
// config -> GGUF hyperparameter keys. Adding an architecture means adding one arch_*.cpp with a table.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "formats/hf_config.h"
#include "formats/gguf.h"
#include "formats/dtype.h"

namespace ckpt {

enum class TensorOp {
  None,
  PermuteQ,   // llama rope: interleave the two halves of each head's rows (n_head)
  PermuteK,   // the same with n_head_kv
  Transpose,  // GPT-2 Conv1D weights are stored [in, out]
  AddOne,     // Gemma's RMSNorm scales by (1 + w); llama.cpp stores w + 1 (and --to hf subtracts it)
  NeoxQkv,    // GPT-NeoX's per-head [q k v] rows regrouped as [q; k; v] (formats/permute.h)
};

struct TensorRule {
  std::string hf;    // "model.layers.{bid}.self_attn.q_proj" (".weight"/".bias" are tried as suffixes)
  std::string gguf;  // "blk.{bid}.attn_q"
  TensorOp op = TensorOp::None;
  bool weight_only_op = false;  // op applies to ".weight" only (GPT-2 biases are not transposed)
};

struct ArchHparams {
  uint64_t n_layer = 0;
  uint64_t n_head = 0;
  uint64_t n_head_kv = 0;
  uint64_t n_embd = 0;
  uint64_t n_vocab = 0;
  uint64_t n_ff = 0;
  uint64_t head_dim = 0;
  uint64_t n_ctx = 0;
  uint64_t n_token_types = 0;  // BERT's type_vocab_size
  uint64_t n_layer_decoder = 0;  // T5's decoder blocks
  uint64_t n_rel_buckets = 0;    // T5's relative-attention buckets
  // Llama-3.1-style rope scaling: the per-frequency divisors llama.cpp stores as rope_freqs.weight.
  std::vector<float> rope_freqs;
  // Phi-3's longrope: rope_factors_long / rope_factors_short (rope.dimension_count / 2 divisors each).
  std::vector<float> rope_factors_long, rope_factors_short;
};

// Llama 3.1's rope_scaling (rope_type "llama3") as convert_hf_to_gguf turns it into rope_freqs: one
// divisor per rotated pair, computed in f32 as its torch code does.
std::vector<float> llama3_rope_factors(double rope_theta, uint64_t head_dim, double factor, double low_freq_factor,
                                       double high_freq_factor, double original_context);

// A tensor the architecture requires (or allows) with the GGUF dims config.json implies.
struct ExpectedTensor {
  std::string name;          // GGUF name
  std::vector<uint64_t> ne;  // ggml order, ne[0] innermost
  bool required = true;
};

struct Architecture {
  std::vector<std::string> hf_names;  // config.json "architectures"[0] values
  std::string gguf_arch;              // general.architecture
  std::vector<TensorRule> tensors;
  std::vector<std::string> skip_suffixes;  // HF buffers that are not weights (rotary inv_freq, masks)
  std::vector<std::string> skip_prefixes;  // towers llama.cpp converts elsewhere (Gemma 3's vision encoder)
  // The SentencePiece "add_space_prefix" llama.cpp writes whatever tokenizer.model says (Gemma: false).
  std::optional<bool> spm_add_space_prefix;
  // token_embd keeps only the rows tokenizer.json has when there is no tokenizer.model (Gemma 3 pads
  // its embedding past the vocabulary; Gemma3Model.modify_tensors).
  bool trim_embedding_to_vocab = false;
  // Several checkpoint tensors map to one GGUF tensor and the first one found is kept (T5's shared
  // embedding, saved as shared / encoder.embed_tokens / decoder.embed_tokens).
  bool first_duplicate_wins = false;
  // The vocabulary comes from the SentencePiece model alone (tokenizer.model or spiece.model), written
  // under this tokenizer.ggml.model name with its normalizer ("t5": Unigram). Empty: the usual files.
  std::string sentencepiece_vocab;
  // ckpt run has a forward pass for it (encoders and encoder-decoders convert only).
  bool runs = true;
  // A tied model whose checkpoint has no lm_head: write a copy of token_embd as output (GPT-2 does).
  bool duplicate_embedding_as_output = false;
  // Reads config.json, appends the {arch}.* keys in convert_hf_to_gguf's order, returns what the
  // tensor transforms need.
  std::function<ArchHparams(const JsonFile& config, std::vector<GgufKv>& kvs)> write_hparams;
  // Every tensor the model must (or may) hold, from the hyper-parameters: checked before writing.
  std::function<std::vector<ExpectedTensor>(const ArchHparams&)> expected_tensors;
};

const Architecture* find_architecture(const std::string& hf_name);
const Architecture* find_architecture_by_gguf_name(const std::string& gguf_arch);
std::vector<std::string> supported_architectures();

// Maps an HF tensor name; nullopt if no rule matches.
struct MappedName {
  std::string gguf_name;
  TensorOp op = TensorOp::None;
};
std::optional<MappedName> map_tensor_name(const Architecture& arch, const std::string& hf_name);

// Reverse: GGUF name -> HF name (first matching rule), for `--to hf`.
std::optional<MappedName> map_tensor_name_to_hf(const Architecture& arch, const std::string& gguf_name);

// The llama tensor layout (embed, norms, q/k/v/o, gate/up/down) shared by llama-like architectures.
std::vector<TensorRule> llama_style_tensor_rules(bool permute_qk);
struct LlamaStyleDefaults {
  uint64_t context_length;
  double rope_theta;
  double rms_norm_eps;
};
// Reads a llama-like config.json into {arch}.* keys in convert_hf_to_gguf's order.
ArchHparams write_llama_style_hparams(const JsonFile& config, std::vector<GgufKv>& kvs, const std::string& arch,
                                      const LlamaStyleDefaults& defaults);

// {arch}.rope.scaling.* from config.json's rope_scaling / rope_parameters; llama3 fills h.rope_freqs.
void write_rope_scaling(const JsonFile& config, std::vector<GgufKv>& kvs, const std::string& arch, ArchHparams& h);

// One layer's separate q/k/v/output projections and gate/up/down matrices (prefix "blk.N."), which
// every llama-like table expects; norms and biases are the table's own.
void append_llama_layer_matrices(std::vector<ExpectedTensor>& out, const ArchHparams& h, const std::string& prefix);
// A GELU MLP with biases (ffn_up / ffn_down and their .bias), as GPT-NeoX and BERT have.
void append_biased_mlp(std::vector<ExpectedTensor>& out, const ArchHparams& h, const std::string& prefix);

// The llama layout's tensors (optional q/k/v biases: Qwen2 has them, llama may).
std::vector<ExpectedTensor> llama_style_expected_tensors(const ArchHparams& h, bool qkv_bias_required);

// TensorOp::AddOne on decoded values: convert_hf_to_gguf adds 1 in the tensor's torch dtype (bf16 is
// widened to f32 first, f16 is not, so an f16 sum rounds to f16); `inverse` (--to hf) subtracts it in f32.
void apply_add_one(std::span<float> values, DType stored, bool inverse);

// Helpers shared by the architecture tables.
void add_u32(std::vector<GgufKv>& kvs, const std::string& key, uint64_t value, const JsonFile& config, const std::string& from);
void add_f32(std::vector<GgufKv>& kvs, const std::string& key, double value);

}  // namespace ckpt
