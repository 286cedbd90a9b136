// FP8 checkpoints read as the values they hold: each F8 weight with a `weight_scale_inv` / `weight_scale`
// companion becomes a decoded tensor (f8 * scale, blocks from config.json's weight_block_size).
#pragma once

#include <cstdint>
#include <vector>

#include "formats/model_source.h"

namespace ckpt {

// dequant_simple of convert_hf_to_gguf: `block` empty means per-tensor or per-output-channel scales.
std::vector<float> dequantize_fp8(const SourceTensor& weight, const SourceTensor& scale, const std::vector<uint64_t>& block);

// Replaces FP8 weights in source.tensors by decoded ones and drops their scales (all_tensors keeps the
// stored ones). No-op for checkpoints without scaled FP8 weights.
void fold_fp8_weights(ModelSource& source);

}  // namespace ckpt
