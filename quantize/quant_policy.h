// Quantization types as llama-quantize names them, and its per-tensor choices (llama-quant.cpp,
// llama_tensor_get_type): which tensors are quantized, which get more bits in the K-quant mixes, the
// user's overrides (--output-tensor-type, --token-embedding-type, --tensor-type), and the fallbacks
// when a row does not fill whole blocks.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "formats/dtype.h"

namespace ckpt {

struct GgufFile;

struct QuantType {
  std::string name;       // "Q4_K_M" (matched case-insensitively)
  uint32_t llama_ftype;   // general.file_type
  DType default_type;     // what most tensors get
  std::string description;
  bool requires_imatrix = false;  // Q2_K_S: llama-quantize refuses it without an importance matrix
};

// The table that drives --type parsing and --help (bnb types live in the bnb layout, not here).
const std::vector<QuantType>& gguf_quant_types();
// By name (case-insensitive) or by llama.cpp's ftype number ("15" is Q4_K_M).
std::optional<QuantType> find_gguf_quant_type(const std::string& name);

// What the mix rules need to know about the model.
struct QuantModelFacts {
  uint64_t n_layer = 0;
  uint64_t n_gqa = 1;     // attention heads per KV head
  uint64_t n_expert = 0;
  bool falcon = false;    // llama.cpp's Falcon exceptions
  bool is_70b = false;    // LLaMA-2/3 70B: 80 layers with grouped KV heads
  static QuantModelFacts from_gguf(const GgufFile& file);
};

// The user's choices on top of the mix.
struct QuantOverrides {
  bool pure = false;                           // every quantizable tensor gets the default type
  bool has_imatrix = false;                    // changes a few rules (IQ4 ffn_down, Q4_0/Q5_0 ffn_down)
  std::optional<DType> output_type;            // --output-tensor-type
  std::optional<DType> token_embedding_type;   // --token-embedding-type
  std::vector<std::pair<std::regex, DType>> tensor_types;  // --tensor-type PATTERN=TYPE, first match wins
};

// Per-model state llama.cpp keeps while choosing types (counters advance as tensors are visited in
// llama.cpp's order: non-layer tensors, then by layer, then by name).
class QuantPolicy {
 public:
  // `names` are all tensor names of the model.
  QuantPolicy(const QuantType& type, QuantOverrides overrides, const std::vector<std::string>& names, const QuantModelFacts& model);

  // Whether llama.cpp would quantize this tensor at all (2-D+ weights, not norms, not position
  // embeddings, ...; `ne` in ggml order, trailing 1s do not count as dimensions).
  static bool allows_quantization(const std::string& name, const std::vector<uint64_t>& ne);

  // The type for the next tensor (call in llama.cpp's order; see sort_like_llama_cpp).
  DType choose(const std::string& name, const std::vector<uint64_t>& ne);

 private:
  DType mix_rule(DType t, const std::string& name, uint64_t ncols);

  QuantType type_;
  QuantOverrides overrides_;
  QuantModelFacts model_;
  bool tied_embeddings_ = true;
  int n_attention_wv_ = 0, i_attention_wv_ = 0;
  int i_ffn_down_ = 0;
};

// llama.cpp's model-loader order: tensors outside blocks first, then by block number, then by name.
void sort_like_llama_cpp(std::vector<std::string>& names);
bool llama_cpp_order_less(const std::string& a, const std::string& b);

}  // namespace ckpt
