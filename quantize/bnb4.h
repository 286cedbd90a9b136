// bitsandbytes 4-bit quantization (NF4 / FP4) and double quantization, as bnb defines them
// (../shared/specs/safetensors-bnb-peft.md §B): blocks over the flattened tensor, absmax per block,
// nearest code by the midpoint thresholds of bnb's CUDA kernels (equality goes to the lower code),
// two codes per byte with the EVEN element in the HIGH nibble. Double quantization stores absmax as
// uint8 codes of bnb's signed 8-bit dynamic map, in blocks of 256, after subtracting their mean.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "formats/dtype.h"

namespace ckpt {

enum class Bnb4Type { NF4, FP4 };

// The 16-entry code book bnb stores as quant_map (FP4 already divided by 12).
const std::array<float, 16>& bnb4_code(Bnb4Type type);
// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8) in float32, sorted (256 entries).
const std::array<float, 256>& bnb_dynamic_map();

bool is_valid_bnb_blocksize(uint64_t blocksize);  // 32, 64, ..., 4096

// The quantized state of one tensor, in the arrays bnb serializes.
struct Bnb4Quantized {
  Bnb4Type type = Bnb4Type::NF4;
  uint64_t blocksize = 64;
  std::vector<uint8_t> packed;   // (n + 1) / 2 bytes
  std::vector<float> absmax;     // per block (f32); what dequantization uses
  bool nested = false;           // double quantization
  std::vector<uint8_t> absmax_codes;   // nested: uint8 per block
  std::vector<float> nested_absmax;    // nested: per 256 blocks
  float offset = 0;                    // nested: mean of absmax
  uint64_t nested_blocksize = 256;
};

// With pack == false only the scales (absmax, and the nested state) are computed: a cheap pass for
// writers that need them before the packed codes.
Bnb4Quantized quantize_bnb4(std::span<const float> x, Bnb4Type type, uint64_t blocksize, bool double_quant, bool pack = true);

// The pieces of quantize_bnb4, for callers that stream a tensor in block-aligned chunks on threads:
// absmax of each block of `x` (absmax.size() blocks; the last may be partial); the packed codes of
// `x` (x starts at a block boundary) given those absmax; double quantization of q.absmax (which
// becomes what readers reconstruct).
void bnb4_block_absmax(std::span<const float> x, uint64_t blocksize, std::span<float> absmax);
void bnb4_pack_codes(std::span<const float> x, std::span<const float> absmax, Bnb4Type type, uint64_t blocksize,
                     std::span<uint8_t> packed);
void bnb4_double_quantize(Bnb4Quantized& q);

// Rebuilds absmax from its double-quantized form: map[code] * nested_absmax[i / 256] + offset.
std::vector<float> dequantize_nested_absmax(std::span<const uint8_t> codes, std::span<const float> nested_absmax,
                                            std::span<const float> code_map, float offset, uint64_t nested_blocksize);

// out[i] = code[q_i] * absmax[i / blocksize], for the first out.size() elements of `packed`.
void dequantize_bnb4(std::span<const uint8_t> packed, std::span<const float> absmax, std::span<const float> code,
                     uint64_t blocksize, std::span<float> out);

}  // namespace ckpt
