// Dequantize-matvec: one thread block per output row; each thread walks whole quant blocks of the row
// (so each weight byte is read once), decodes them with the shared per-block code and accumulates
// against x; the block reduces with warp shuffles. Decode for single-token generation; prompt batches
// go through tensor-core matmul in a later step.
#include "runtime/cuda/cuda_matvec.h"

#include <cuda_runtime.h>

#include "formats/error.h"
#include "quantize/block_decode.h"

namespace ckpt::runtime::cuda {

namespace {

namespace bd = ckpt::block_decode;

// One decoder per layout: values per block, bytes per block, decode.
#define CKPT_DECODER(NAME, QK, BYTES, FN)                                                 \
  struct NAME {                                                                           \
    static constexpr int qk = QK, bytes = BYTES;                                          \
    static __device__ __forceinline__ void run(const uint8_t* b, float* y) { FN(b, y); } \
  };
CKPT_DECODER(DecQ8_0, 32, bd::kQ8_0Bytes, bd::q8_0)
CKPT_DECODER(DecQ4_0, 32, bd::kQ4_0Bytes, bd::q4_0)
CKPT_DECODER(DecQ4_1, 32, bd::kQ4_1Bytes, bd::q4_1)
CKPT_DECODER(DecQ5_0, 32, bd::kQ5_0Bytes, bd::q5_0)
CKPT_DECODER(DecQ5_1, 32, bd::kQ5_1Bytes, bd::q5_1)
CKPT_DECODER(DecIQ4NL, 32, bd::kIQ4NLBytes, bd::iq4_nl)
CKPT_DECODER(DecQ2K, 256, bd::kQ2KBytes, bd::q2_k)
CKPT_DECODER(DecQ3K, 256, bd::kQ3KBytes, bd::q3_k)
CKPT_DECODER(DecQ4K, 256, bd::kQ4KBytes, bd::q4_k)
CKPT_DECODER(DecQ5K, 256, bd::kQ5KBytes, bd::q5_k)
CKPT_DECODER(DecQ6K, 256, bd::kQ6KBytes, bd::q6_k)
CKPT_DECODER(DecIQ4XS, 256, bd::kIQ4XSBytes, bd::iq4_xs)
#undef CKPT_DECODER

// Float layouts as "blocks" of one value.
struct DecF32 {
  static constexpr int qk = 1, bytes = 4;
  static __device__ __forceinline__ void run(const uint8_t* b, float* y) { *y = bd::bits_to_f32(bd::rd32(b)); }
};
struct DecF16 {
  static constexpr int qk = 1, bytes = 2;
  static __device__ __forceinline__ void run(const uint8_t* b, float* y) { *y = bd::f16(bd::rd16(b)); }
};
struct DecBF16 {
  static constexpr int qk = 1, bytes = 2;
  static __device__ __forceinline__ void run(const uint8_t* b, float* y) { *y = bd::bf16(bd::rd16(b)); }
};

constexpr int kThreads = 128;

__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[kThreads / 32];
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.0f;
  if (warp == 0) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  }
  return v;
}

template <typename D>
__global__ void __launch_bounds__(kThreads) matvec_kernel(const uint8_t* w, const float* x, float* y, uint64_t cols, uint64_t row_bytes) {
  const uint8_t* row = w + blockIdx.x * row_bytes;
  const uint64_t n_blocks = cols / D::qk;
  float acc = 0.0f;
  float v[D::qk];
  for (uint64_t b = threadIdx.x; b < n_blocks; b += kThreads) {
    D::run(row + b * D::bytes, v);
    const float* xb = x + b * D::qk;
#pragma unroll 8
    for (int j = 0; j < D::qk; ++j) acc += v[j] * xb[j];
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) y[blockIdx.x] = acc;
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, "cuda", std::string(what) + ": " + cudaGetErrorString(e));
  }
}

// Device memory released on every path (a throw included).
struct DeviceBuffer {
  void* p = nullptr;
  explicit DeviceBuffer(size_t bytes) { check(cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc"); }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

template <typename D>
void launch(const uint8_t* w, const float* x, float* y, uint64_t rows, uint64_t cols, uint64_t row_bytes) {
  matvec_kernel<D><<<static_cast<unsigned>(rows), kThreads>>>(w, x, y, cols, row_bytes);
}

bool dispatch(DType t, const uint8_t* w, const float* x, float* y, uint64_t rows, uint64_t cols, uint64_t row_bytes) {
  switch (t) {
    case DType::F32: launch<DecF32>(w, x, y, rows, cols, row_bytes); return true;
    case DType::F16: launch<DecF16>(w, x, y, rows, cols, row_bytes); return true;
    case DType::BF16: launch<DecBF16>(w, x, y, rows, cols, row_bytes); return true;
    case DType::Q8_0: launch<DecQ8_0>(w, x, y, rows, cols, row_bytes); return true;
    case DType::Q4_0: launch<DecQ4_0>(w, x, y, rows, cols, row_bytes); return true;
    case DType::Q4_1: launch<DecQ4_1>(w, x, y, rows, cols, row_bytes); return true;
    case DType::Q5_0: launch<DecQ5_0>(w, x, y, rows, cols, row_bytes); return true;
    case DType::Q5_1: launch<DecQ5_1>(w, x, y, rows, cols, row_bytes); return true;
    case DType::IQ4_NL: launch<DecIQ4NL>(w, x, y, rows, cols, row_bytes); return true;
    case DType::IQ4_XS: launch<DecIQ4XS>(w, x, y, rows, cols, row_bytes); return true;
    case DType::Q2_K: launch<DecQ2K>(w, x, y, rows, cols, row_bytes); return true;
    case DType::Q3_K: launch<DecQ3K>(w, x, y, rows, cols, row_bytes); return true;
    case DType::Q4_K: launch<DecQ4K>(w, x, y, rows, cols, row_bytes); return true;
    case DType::Q5_K: launch<DecQ5K>(w, x, y, rows, cols, row_bytes); return true;
    case DType::Q6_K: launch<DecQ6K>(w, x, y, rows, cols, row_bytes); return true;
    default: return false;
  }
}

}  // namespace

bool built_with_cuda() { return true; }

bool device_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = e != cudaSuccess ? std::string("no usable CUDA device: ") + cudaGetErrorString(e) : "no CUDA device on this machine";
    return false;
  }
  return true;
}

bool supports(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q8_0: case DType::Q4_0: case DType::Q4_1:
    case DType::Q5_0: case DType::Q5_1: case DType::IQ4_NL: case DType::IQ4_XS: case DType::Q2_K: case DType::Q3_K:
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

std::vector<float> matvec(DType type, const void* weights, uint64_t rows, uint64_t cols, const float* x) {
  if (!supports(type)) {
    throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, "cuda", "no CUDA kernel for " + std::string(dtype_name(type)));
  }
  const uint64_t row_bytes = *dtype_bytes_for(type, cols);
  DeviceBuffer w(rows * row_bytes), dx(cols * sizeof(float)), dy(rows * sizeof(float));
  check(cudaMemcpy(w.p, weights, rows * row_bytes, cudaMemcpyHostToDevice), "upload weights");
  check(cudaMemcpy(dx.p, x, cols * sizeof(float), cudaMemcpyHostToDevice), "upload x");
  dispatch(type, static_cast<const uint8_t*>(w.p), static_cast<const float*>(dx.p), static_cast<float*>(dy.p), rows, cols, row_bytes);
  check(cudaGetLastError(), "matvec kernel");
  std::vector<float> y(rows);
  check(cudaMemcpy(y.data(), dy.p, rows * sizeof(float), cudaMemcpyDeviceToHost), "download y");
  return y;
}

}  // namespace ckpt::runtime::cuda
