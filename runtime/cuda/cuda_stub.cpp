// Built without CUDA (no working nvcc at configure time): every device query says so.
#include "runtime/cuda/cuda_matvec.h"

#include "formats/error.h"

namespace ckpt::runtime::cuda {

bool built_with_cuda() { return false; }

bool device_available(std::string* why) {
  if (why) *why = "this ckpt was built without CUDA (no working nvcc when CMake configured it; see README: GPU)";
  return false;
}

bool supports(DType) { return false; }

std::vector<float> matvec(DType, const void*, uint64_t, uint64_t, const float*) {
  std::string why;
  device_available(&why);
  throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, "cuda", why);
}

}  // namespace ckpt::runtime::cuda
