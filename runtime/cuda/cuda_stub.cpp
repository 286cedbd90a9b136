// Built without CUDA (no working nvcc when CMake configured): every device query says so.
#include "formats/error.h"
#include "runtime/cuda/cuda_backend.h"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_matvec.h"

namespace ckpt::runtime::cuda {

namespace {
[[noreturn]] void not_built() {
  std::string why;
  device_available(&why);
  throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, "cuda", why);
}
}  // namespace

bool built_with_cuda() { return false; }

bool device_available(std::string* why) {
  if (why) *why = "this ckpt was built without CUDA (no working nvcc when CMake configured it; see README: GPU)";
  return false;
}

bool supports(DType) { return false; }

std::vector<float> matvec(DType, const void*, uint64_t, uint64_t, const float*) { not_built(); }

std::unique_ptr<Backend> make_cuda_backend(const Model&) { not_built(); }

double device_copy_bandwidth() { not_built(); }

std::string device_name() { not_built(); }

// The trainer's QLoRA path asks built_with_cuda() first; these only keep it linking.
DeviceWeights::DeviceWeights() { not_built(); }
DeviceWeights::~DeviceWeights() = default;
const DeviceMatrix& DeviceWeights::matrix(const Weight&) { not_built(); }
void dequantize_rows(const DeviceMatrix&, const int32_t*, size_t, float*) { not_built(); }

}  // namespace ckpt::runtime::cuda
