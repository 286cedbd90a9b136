// Row-times-activation dot products, one per weight encoding (internal to the runtime).
//
// As in ggml, activations are first brought into the weight's "partner" format once per matmul:
// f32 for float weights (f32/f16/bf16, and NF4, whose codes are floats), Q8_0 blocks for the 32-element
// quants (Q8_0, Q4_0, IQ4_NL), Q8_K super-blocks for the K-quants. Every other ggml type the
// dequantizers know takes the generic path: dequantize a block, dot in f32.
//
// The scalar dots are the reference: they dequantize both sides with the quantize library's tested
// decoders and sum in float. The AVX2 dots must agree with them to float rounding.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/model.h"

namespace ckpt::runtime {

enum class ActFormat { F32, Q8_0, Q8_K };

// ggml's block_q8_K: f32 scale, 256 int8 quants, sums of each 16 quants (for the K-quants' mins).
struct BlockQ8K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};
static_assert(sizeof(BlockQ8K) == 292);

ActFormat act_format_for(const Weight& w);
// Bytes of one activation row of `n` values in `format`.
size_t act_row_bytes(ActFormat format, size_t n);
// Converts one activation row (n values) into `format` at `out`.
void quantize_activation(ActFormat format, const float* x, size_t n, void* out);

// dot(weight row r, activation row) over w.cols values.
using DotFn = float (*)(const Weight& w, uint64_t r, const void* act);

DotFn scalar_dot_for(const Weight& w);
DotFn avx2_dot_for(const Weight& w);  // nullptr when there is no AVX2 kernel for this type
bool cpu_supports_avx2_kernels();

// A 4-row tile: y[t * y_stride + r0 + i] = dot(row r0 + i, activation row t) for i < 4, t < n_tokens
// (n_tokens is 1 or 2). Sharing each activation block across four rows, and each decoded weight block
// across the tokens, is what makes decode (one token) and prompt batches fast.
constexpr uint64_t kTileRows = 4;
using TileFn = void (*)(const Weight& w, uint64_t r0, const std::byte* act, size_t act_bytes, size_t n_tokens, float* y,
                        size_t y_stride);
TileFn avx2_tile_for(const Weight& w);    // nullptr: use the per-row dots
TileFn avx512_tile_for(const Weight& w);  // AVX-512 F/BW/VL/VNNI build of the same tiles
bool cpu_supports_avx512_kernels();

// Attention for one query head: scores over n_keys keys (rows `stride` floats apart) scaled by `scale`,
// softmax, and the probability-weighted sum of values into out[hd]. `scores` has room for n_keys.
// softcap > 0 bounds each scaled score to (-softcap, softcap) as softcap * tanh(score / softcap) (Gemma 2).
void attend_head(const float* q, const float* k, const float* v, size_t n_keys, size_t stride, size_t hd, float scale, float softcap,
                 float* scores, float* out);
void attend_head_avx2(const float* q, const float* k, const float* v, size_t n_keys, size_t stride, size_t hd, float scale, float softcap,
                      float* scores, float* out);
// The same over an f16 cache (IEEE half bits).
void attend_head(const float* q, const uint16_t* k, const uint16_t* v, size_t n_keys, size_t stride, size_t hd, float scale, float softcap,
                 float* scores, float* out);
void attend_head_f16_avx2(const float* q, const uint16_t* k, const uint16_t* v, size_t n_keys, size_t stride, size_t hd,
                          float scale, float softcap, float* scores, float* out);


}  // namespace ckpt::runtime
