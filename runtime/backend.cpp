#include "runtime/backend.h"

#include <fmt/format.h>

#include "formats/error.h"
#include "runtime/cuda/cuda_backend.h"
#include "runtime/cuda/cuda_matvec.h"

namespace ckpt::runtime {

Device parse_device(std::string_view name) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  if (name == "auto") return Device::Auto;
  throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--device", fmt::format("'{}' is not a device: cpu, cuda or auto", name));
}

std::unique_ptr<Backend> make_backend(Device device, const Model& model, unsigned n_threads, std::string* note) {
  if (device == Device::Cpu) return make_cpu_backend(n_threads);
  if (device == Device::Cuda) return cuda::make_cuda_backend(model);
  // Auto: the GPU when it can take this model, the CPU otherwise (saying why).
  std::string why;
  if (!cuda::device_available(&why)) {
    if (note) *note = why;
    return make_cpu_backend(n_threads);
  }
  try {
    return cuda::make_cuda_backend(model);
  } catch (const Error& e) {
    if (note) *note = e.what();
    return make_cpu_backend(n_threads);
  }
}

}  // namespace ckpt::runtime
