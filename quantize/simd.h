// Vectorized kernels (x86-64 AVX2, chosen at run time); bit-identical to the scalar references.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ckpt::simd {

bool cpu_has_avx2();
void quantize_q8_0_avx2(const float* x, size_t n_blocks, std::byte* out);
void quantize_q4_0_avx2(const float* x, size_t n_blocks, std::byte* out);
// make_qkx2_quants (with Q4_K/Q5_K's weights) for the 8 sub-blocks of 32 of one 256-value super-block.
void fit_qkx2_x8(const float* x, int nmax, float rmin, float rdelta, int nstep, uint8_t* L, float* scales, float* the_mins);
// make_qx_quants (Q6_K: 16 values, weights x^2) for 8 consecutive sub-blocks of 16 at once, bit-identical.
void fit_qx_x8(const float* x, int nmax, int8_t* L, float* scales);
// max |x[i]| over n values (n a multiple of 8), NaN ignored like the scalar std::max(amax, |x|).
float absmax_avx2(const float* x, size_t n);
void nf4_codes_avx2(const float* x, size_t n, float inv, const float* thresholds, uint8_t* codes);

}  // namespace ckpt::simd
