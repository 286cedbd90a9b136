// The CUDA side of the runtime (first piece of the backend seam): dequantize-matvec kernels that read
// each weight byte once and decode with the per-block code the CPU tests check
// (quantize/block_decode.h). Compiled when CMake finds a working nvcc (-DCKPT_CUDA=ON, the default); the
// stub in cuda_stub.cpp answers "not available" otherwise, so callers need no #ifdef.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/dtype.h"

namespace ckpt::runtime::cuda {

// Whether kernels can run here: built with CUDA and a device present. `why` says why not.
bool device_available(std::string* why = nullptr);
// Whether this build compiled the CUDA kernels at all.
bool built_with_cuda();
// The types the kernels decode (the ggml types the CPU runs: f32, f16, bf16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// IQ4_NL, IQ4_XS, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K).
bool supports(DType type);

// y = W x on the device for W of rows x cols stored as `type` (rows contiguous, GGUF layout). Uploads W
// and x, runs one kernel, downloads y: what the tests and `--check` use; the runtime keeps W resident.
// Throws Error(Unsupported) naming the CUDA error.
std::vector<float> matvec(DType type, const void* weights, uint64_t rows, uint64_t cols, const float* x);

// Bytes per second a device-to-device copy of 1 GiB moves (read + write counted, best of 5): the
// practical memory-bandwidth limit decode is measured against. "NVIDIA H200, sm_90, 139 GiB".
double device_copy_bandwidth();
std::string device_name();

}  // namespace ckpt::runtime::cuda
