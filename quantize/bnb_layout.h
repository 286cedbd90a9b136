// bitsandbytes checkpoints in the safetensors layout transformers writes and reads (spec §B.4/B.5):
// for a quantized Linear weight P.weight the state dict holds
//   P.weight                               U8 [(n+1)/2, 1]     packed 4-bit codes
//   P.weight.absmax                        F32 [blocks] (U8 codes when double-quantized)
//   P.weight.quant_map                     F32 [16]
//   P.weight.nested_absmax                 F32 [ceil(blocks/256)]   (double quant only)
//   P.weight.nested_quant_map              F32 [256]                (double quant only)
//   P.weight.quant_state.bitsandbytes__nf4 U8 [len]  JSON {"quant_type", "blocksize", "dtype", "shape", nested_*}
// and LLM.int8 weights are P.weight I8 [out, in] with P.SCB F32 [out] (W = weight * SCB / 127).
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "formats/model_source.h"
#include "formats/tensor.h"
#include "quantize/bnb4.h"

namespace ckpt {

// True for the companion tensors of a bnb weight (absmax, quant_map, quant_state, SCB, ...).
bool is_bnb_companion(const std::string& name);

// A dequantized bnb weight (4-bit or int8), if `weight_name` is one; nullopt for ordinary tensors.
// Throws Error when the key family is inconsistent (naming the key).
struct DequantizedWeight {
  std::vector<uint64_t> shape;
  DType original_dtype;
  std::vector<float> values;
};
std::optional<DequantizedWeight> dequantize_bnb_weight(const TensorLookup& lookup, const std::string& weight_name);

// A bnb 4-bit weight as stored, for consumers that compute on the codes directly (the runtime's
// NF4 kernels): packed codes (a view into the file), per-block absmax (double quantization undone),
// and the 16-entry code book from quant_map. nullopt when `weight_name` is not a bnb 4-bit weight.
struct Bnb4Weight {
  std::vector<uint64_t> shape;
  DType original_dtype = DType::F32;
  Bnb4Type type = Bnb4Type::NF4;
  uint64_t blocksize = 64;
  std::span<const std::byte> packed;
  std::vector<float> absmax;
  std::vector<float> code;
};
std::optional<Bnb4Weight> read_bnb4_weight(const TensorLookup& lookup, const std::string& weight_name);
// Cheap check without dequantizing: shape and dtype of a bnb weight.
std::optional<std::pair<std::vector<uint64_t>, DType>> bnb_weight_shape(const TensorLookup& lookup, const std::string& weight_name);

// The quant_state JSON bnb writes (json.dumps with ", " / ": " separators, keys in bnb's order).
std::string bnb4_quant_state_json(const Bnb4Quantized& q, const std::vector<uint64_t>& shape, DType original_dtype);

// Folds every bitsandbytes weight family of `source` (the weight plus absmax, quant_map, quant_state,
// SCB, ...) into one F32 tensor that dequantizes when read (`decode`), marked `quantization` "bnb4" or
// "bnb-int8"; the companions leave `tensors` but stay in `all_tensors` for read_bnb4_weight.
void fold_bnb_weights(ModelSource& source);

// transformers' BitsAndBytesConfig.to_dict() for a 4-bit checkpoint (config.json "quantization_config").
std::string bnb4_quantization_config_json(Bnb4Type type, bool double_quant, DType compute_dtype);

}  // namespace ckpt
