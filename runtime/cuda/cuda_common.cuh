// What the .cu files share: the error check, the per-layout decoders over quantize/block_decode.h, and
// warp / block reductions.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "formats/dtype.h"
#include "formats/error.h"
#include "quantize/block_decode.h"

namespace ckpt::runtime::cuda {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, "cuda", std::string(what) + ": " + cudaGetErrorString(e));
  }
}

// A launch's configuration errors surface at once; its execution errors at the next synchronizing call.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

namespace bd = ckpt::block_decode;

// One decoder per layout, in units of qk values: a stored block of `bytes` holds `units` of them
// (eight 32-value sub-blocks for the 256-value types, so each GPU thread decodes 32 values);
// run(block, unit, y) writes the unit's qk values.
#define CKPT_DECODER(NAME, UNITS, BYTES, DECODE)                                                            \
  struct NAME {                                                                                              \
    static constexpr int qk = 32, units = UNITS, bytes = BYTES;                                              \
    static __device__ __forceinline__ void run(const uint8_t* b, [[maybe_unused]] int unit, float* y) { DECODE; } \
  };
CKPT_DECODER(DecQ8_0, 1, bd::kQ8_0Bytes, bd::q8_0(b, y))
CKPT_DECODER(DecQ4_0, 1, bd::kQ4_0Bytes, bd::q4_0(b, y))
CKPT_DECODER(DecQ4_1, 1, bd::kQ4_1Bytes, bd::q4_1(b, y))
CKPT_DECODER(DecQ5_0, 1, bd::kQ5_0Bytes, bd::q5_0(b, y))
CKPT_DECODER(DecQ5_1, 1, bd::kQ5_1Bytes, bd::q5_1(b, y))
CKPT_DECODER(DecIQ4NL, 1, bd::kIQ4NLBytes, bd::iq4_nl(b, y))
CKPT_DECODER(DecQ2K, 8, bd::kQ2KBytes, bd::q2_k_sub(b, unit, y))
CKPT_DECODER(DecQ3K, 8, bd::kQ3KBytes, bd::q3_k_sub(b, unit, y))
CKPT_DECODER(DecQ4K, 8, bd::kQ4KBytes, bd::q4_k_sub(b, unit, y))
CKPT_DECODER(DecQ5K, 8, bd::kQ5KBytes, bd::q5_k_sub(b, unit, y))
CKPT_DECODER(DecQ6K, 8, bd::kQ6KBytes, bd::q6_k_sub(b, unit, y))
CKPT_DECODER(DecIQ4XS, 8, bd::kIQ4XSBytes, bd::iq4_xs_sub(b, unit, y))
#undef CKPT_DECODER

// Float layouts as units of one value.
struct DecF32 {
  static constexpr int qk = 1, units = 1, bytes = 4;
  static __device__ __forceinline__ void run(const uint8_t* b, int, float* y) { *y = bd::bits_to_f32(bd::rd32(b)); }
};
struct DecF16 {
  static constexpr int qk = 1, units = 1, bytes = 2;
  static __device__ __forceinline__ void run(const uint8_t* b, int, float* y) { *y = bd::f16(bd::rd16(b)); }
};
struct DecBF16 {
  static constexpr int qk = 1, units = 1, bytes = 2;
  static __device__ __forceinline__ void run(const uint8_t* b, int, float* y) { *y = bd::bf16(bd::rd16(b)); }
};

// Unit u of a row: its stored block and its place in it.
template <typename D>
__device__ __forceinline__ void decode_unit(const uint8_t* row, uint64_t u, float* y) {
  D::run(row + (u / D::units) * D::bytes, static_cast<int>(u % D::units), y);
}

// Calls f.template operator()<Decoder>() for the decoder of `type`; false when there is none.
template <typename F>
bool with_decoder(DType type, F&& f) {
  switch (type) {
    case DType::F32: f(DecF32{}); return true;
    case DType::F16: f(DecF16{}); return true;
    case DType::BF16: f(DecBF16{}); return true;
    case DType::Q8_0: f(DecQ8_0{}); return true;
    case DType::Q4_0: f(DecQ4_0{}); return true;
    case DType::Q4_1: f(DecQ4_1{}); return true;
    case DType::Q5_0: f(DecQ5_0{}); return true;
    case DType::Q5_1: f(DecQ5_1{}); return true;
    case DType::IQ4_NL: f(DecIQ4NL{}); return true;
    case DType::IQ4_XS: f(DecIQ4XS{}); return true;
    case DType::Q2_K: f(DecQ2K{}); return true;
    case DType::Q3_K: f(DecQ3K{}); return true;
    case DType::Q4_K: f(DecQ4K{}); return true;
    case DType::Q5_K: f(DecQ5K{}); return true;
    case DType::Q6_K: f(DecQ6K{}); return true;
    default: return false;
  }
}

struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Lane 0 ends with op over the warp's 32 values.
template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, off));
  return v;
}

// op over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
template <typename T, typename Op>
__device__ T block_reduce(T v, T identity, Op op) {
  __shared__ T partial[32];
  __shared__ T total;
  v = warp_reduce(v, op);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T r = warp_reduce(lane < n_warps ? partial[lane] : identity, op);
    if (lane == 0) total = r;
  }
  __syncthreads();
  const T result = total;
  __syncthreads();  // `total` and `partial` are reused by the next call
  return result;
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  return warp_reduce(v, SumOp{});
}
template <typename T>
__device__ T block_sum(T v) {
  return block_reduce(v, T(0), SumOp{});
}
__device__ __forceinline__ float block_max(float v) { return block_reduce(v, -INFINITY, MaxOp{}); }

inline unsigned grid_for(size_t n, unsigned threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace ckpt::runtime::cuda
