// Public header of ckpt::quantize: ggml block quantizers (reference implementations, bit-exact with
// ggml's *_ref functions) and their dequantizers. NF4/double-quant and the K-quants arrive with the
// quantizer issue; Q8_0 is here first because `ckpt convert --outtype q8_0` needs it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/dtype.h"

#include <vector>

namespace ckpt {

struct SourceTensor;

// block_q8_0 (34 bytes): ggml_half d; int8_t qs[32]; value = qs[j] * d.
struct BlockQ8_0 {
  uint16_t d;  // IEEE f16 bits
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34, "block_q8_0 must be packed: f16 d + 32 int8");
static_assert(sizeof(BlockQ8_0) == dtype_info(DType::Q8_0).block_bytes);

// ggml's quantize_row_q8_0_ref: per 32 values, d = max|x| / 127 (f32), q = roundf(x * (1/d)) with
// the quants computed from the f32 d, not the f16-rounded one. `x.size()` must be a multiple of 32.
void quantize_q8_0(std::span<const float> x, std::span<std::byte> out);
// The scalar references the vectorized paths are tested against.
void quantize_q8_0_ref(std::span<const float> x, std::span<std::byte> out);
void quantize_q4_0_ref(std::span<const float> x, std::span<std::byte> out);
void quantize_q4_k_ref(std::span<const float> x, std::span<std::byte> out);
void quantize_q5_k_ref(std::span<const float> x, std::span<std::byte> out);
void dequantize_q8_0(std::span<const std::byte> in, std::span<float> out);

// The other reference quantizers llama-quantize uses without an imatrix (ggml quantize_row_*_ref,
// quantize_iq4_nl), bit-exact, and their dequantizers. Sizes: whole blocks (32, or 256 for *_k).
void quantize_q4_0(std::span<const float> x, std::span<std::byte> out);
void quantize_q4_1(std::span<const float> x, std::span<std::byte> out);
void quantize_q5_0(std::span<const float> x, std::span<std::byte> out);
void quantize_q5_1(std::span<const float> x, std::span<std::byte> out);
void quantize_iq4_nl(std::span<const float> x, std::span<std::byte> out);
void quantize_q4_k(std::span<const float> x, std::span<std::byte> out);
void quantize_q5_k(std::span<const float> x, std::span<std::byte> out);
void quantize_q6_k(std::span<const float> x, std::span<std::byte> out);
void quantize_q2_k(std::span<const float> x, std::span<std::byte> out);
void quantize_q3_k(std::span<const float> x, std::span<std::byte> out);
void quantize_iq4_xs(std::span<const float> x, std::span<std::byte> out);
void quantize_q6_k_ref(std::span<const float> x, std::span<std::byte> out);  // scalar oracle of the AVX2 path
void dequantize_q4_0(std::span<const std::byte> in, std::span<float> out);
void dequantize_q4_1(std::span<const std::byte> in, std::span<float> out);
void dequantize_q5_0(std::span<const std::byte> in, std::span<float> out);
void dequantize_q5_1(std::span<const std::byte> in, std::span<float> out);
void dequantize_iq4_nl(std::span<const std::byte> in, std::span<float> out);
void dequantize_q4_k(std::span<const std::byte> in, std::span<float> out);
void dequantize_q5_k(std::span<const std::byte> in, std::span<float> out);
void dequantize_q6_k(std::span<const std::byte> in, std::span<float> out);
void dequantize_q2_k(std::span<const std::byte> in, std::span<float> out);
void dequantize_q3_k(std::span<const std::byte> in, std::span<float> out);
void dequantize_iq4_xs(std::span<const std::byte> in, std::span<float> out);

// The importance-weighted quantizers llama-quantize uses with an imatrix (ggml quantize_*(..., quant_weights)),
// bit-exact. `x` is ONE row (some types fit a row-wide sigma); `qw` holds the row's importance, one value
// per column (llama.cpp's imatrix entry for the tensor).
void quantize_q4_0_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out);
void quantize_q4_1_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out);
void quantize_q5_0_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out);
void quantize_q5_1_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out);
void quantize_q2_k_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out);
void quantize_q3_k_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out);
void quantize_q4_k_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out);
void quantize_q5_k_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out);
void quantize_q6_k_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out);
void quantize_iq4_nl_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out);
void quantize_iq4_xs_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out);

// Decode-only types (ggml types newer than the quantizers: gpt-oss MXFP4, NVFP4, Q1_0, Q2_0).
void dequantize_mxfp4(std::span<const std::byte> in, std::span<float> out);
void dequantize_nvfp4(std::span<const std::byte> in, std::span<float> out);
void dequantize_q1_0(std::span<const std::byte> in, std::span<float> out);
void dequantize_q2_0(std::span<const std::byte> in, std::span<float> out);

// True for the types quantize_to/dequantize_from handle.
bool can_quantize_to(DType t);

// Whether this CPU runs the AVX2 (+F16C) kernels; other libraries' kernels use the same answer.
bool cpu_has_avx2_f16c();
bool can_dequantize_from(DType t);

// Every value of a source tensor as f32: its `decode` (bitsandbytes, FP8, a merge) or its bytes decoded
// in block-aligned chunks on `threads` threads. The mapped pages are released afterwards (callers keep
// the values). Throws Error naming the tensor for a dtype with no decoder.
std::vector<float> decode_tensor_values(const SourceTensor& t, unsigned threads);

// Encodes f32 values as `t` (F32, F16, BF16 and every quantizer above); out.size() == dtype_bytes_for(t, x.size()).
void encode_from_f32(DType t, std::span<const float> x, std::span<std::byte> out);
// Encodes one row with its importance (`importance.size() == row.size()`): the weighted quantizer of `t`,
// or encode_from_f32 for the types ggml quantizes without weights (Q8_0, the float types).
void encode_row_weighted(DType t, std::span<const float> row, std::span<const float> importance, std::span<std::byte> out);
// Whether `t` has an importance-weighted quantizer (an imatrix changes its bytes).
bool uses_importance(DType t);
// Decodes `t` (F32, F16, BF16, F64, the float8 types and every block type above) into f32.
void decode_to_f32(DType t, std::span<const std::byte> in, std::span<float> out);

}  // namespace ckpt
