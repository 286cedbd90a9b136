// The scale searches ggml's quantizers share (ggml-quants.c: make_qx_quants, make_q3_quants,
// make_qkx2_quants, make_qkx3_quants, make_qp_quants, best_index_int8), internal to ckpt::quantize.
// Each follows ggml operation for operation in the same f32 order (the library is compiled without FMA
// contraction), so the codes and scales — and therefore the file bytes — match llama-quantize's.
#pragma once

#include <cstdint>
#include <cmath>
#include <cstring>

namespace ckpt::quant_fit {

inline constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest (ties to even) via the 1.5*2^23 trick ggml uses; |f| must stay below 2^22.
inline int nearest_int(float f) {
  const float v = f + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &v, 4);
  return (i & 0x007FFFFF) - 0x00400000;
}

// The element of largest magnitude with its sign (the first on ties), and that magnitude.
inline float signed_absmax(const float* x, int n, float* amax) {
  float max = 0;
  *amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = x[i] < 0 ? -x[i] : x[i];
    if (ax > *amax) {
      *amax = ax;
      max = x[i];
    }
  }
  return max;
}

// ggml's importance weights for n values with an imatrix row: qw[i] * sqrt(sigma2 + x[i]^2). Returns
// their sum, accumulated in order (the super-block quantizers weigh their sub-block scales by it).
inline float importance_weights(int n, const float* x, const float* qw, float sigma2, float* w) {
  float sum = 0;
  for (int i = 0; i < n; ++i) w[i] = qw[i] * std::sqrt(sigma2 + x[i] * x[i]);
  for (int i = 0; i < n; ++i) sum += w[i];
  return sum;
}

// Symmetric codes in [0, 2*nmax) with a search over 19 scales, weighted by `qw` (an importance row)
// or, without one, by x^2 (ggml's rmse_type 1). Returns the scale.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, const float* qw);
// Q3_K's symmetric codes with 5 rounds of coordinate descent (weights x^2), in [0, 2*nmax).
float make_q3_quants(int n, int nmax, const float* x, int8_t* L);
// Asymmetric codes in [0, nmax] (scale and min) with a weighted search; `use_mad` weighs absolute
// instead of squared errors. Returns the scale, *the_min = -min.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep, bool use_mad);
// The same search as the importance-weighted quantizers call it (weights may be null: x^2).
float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep, bool use_mad);
// Non-negative codes in [0, nmax] for a super-block's scales, weighted by `quant_weights`.
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights);
// Index of the entry of the sorted 16-value code book nearest to x (ties to the upper entry), by
// bisection as ggml does. Inline: IQ4 calls it ~4000 times per 256 values.
inline int best_index_int8(const int8_t* val, float x) {
  if (x <= val[0]) return 0;
  if (x >= val[15]) return 15;
  int ml = 0, mu = 15;
  while (mu - ml > 1) {
    const int mav = (ml + mu) / 2;
    if (x < val[mav]) {
      mu = mav;
    } else {
      ml = mav;
    }
  }
  return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}
// Q4_K/Q5_K's 6-bit scale and min of sub-block j from the packed 12 bytes.
void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m);

}  // namespace ckpt::quant_fit
