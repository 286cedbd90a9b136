// Quantization types as llama-quantize names them, and its per-tensor choices (llama-quant.cpp,
// llama_tensor_get_type) for llama-family models: which tensors are quantized, which get more bits
// in the K-quant mixes, and the fallbacks when a row does not fill whole blocks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "formats/dtype.h"

namespace ckpt {

struct GgufFile;

struct QuantType {
  std::string name;       // "Q4_K_M" (matched case-insensitively)
  uint32_t llama_ftype;   // general.file_type
  DType default_type;     // what most tensors get
  std::string description;
};

// The table that drives --type parsing and --help (bnb types live in the bnb layout, not here).
const std::vector<QuantType>& gguf_quant_types();
std::optional<QuantType> find_gguf_quant_type(const std::string& name);

// Per-model state llama.cpp keeps while choosing types (counters advance as tensors are visited in
// llama.cpp's order: non-layer tensors, then by layer, then by name).
class QuantPolicy {
 public:
  // `names` are all tensor names of the model; `n_layer` its block count; n_gqa = heads / kv heads.
  QuantPolicy(const QuantType& type, bool pure, const std::vector<std::string>& names, uint64_t n_layer, uint64_t n_gqa);
  // The same with the block and head counts read from a GGUF's {arch}.* keys.
  static QuantPolicy for_gguf(const QuantType& type, bool pure, const std::vector<std::string>& names, const GgufFile& file);

  // Whether llama.cpp would quantize this tensor at all (2-D+ weights, not norms, not position embeddings).
  static bool allows_quantization(const std::string& name, size_t n_dims);

  // The type for the next tensor (call in llama.cpp's order; see sort_like_llama_cpp).
  DType choose(const std::string& name, const std::vector<uint64_t>& ne);

 private:
  QuantType type_;
  bool pure_;
  uint64_t n_gqa_;
  bool tied_embeddings_ = true;
  int n_attention_wv_ = 0, i_attention_wv_ = 0;
  int n_ffn_down_ = 0, i_ffn_down_ = 0;
};

// llama.cpp's model-loader order: tensors outside blocks first, then by block number, then by name.
void sort_like_llama_cpp(std::vector<std::string>& names);
bool llama_cpp_order_less(const std::string& a, const std::string& b);

}  // namespace ckpt
