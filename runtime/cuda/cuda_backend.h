// The CUDA backend (runtime/backend.h) and the device copies of a model's weights it and the trainer's
// QLoRA path use. Host code (C++20); the kernels it calls are in cuda_kernels.h.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "runtime/backend.h"
#include "runtime/model.h"

namespace ckpt::runtime::cuda {

struct DeviceMatrix;

// Device copies of weights in their stored form, uploaded on first use and kept until destruction.
class DeviceWeights {
 public:
  DeviceWeights();
  ~DeviceWeights();
  DeviceWeights(const DeviceWeights&) = delete;
  DeviceWeights& operator=(const DeviceWeights&) = delete;

  // Throws Error(Unsupported) naming the weight when its type has no CUDA kernel.
  const DeviceMatrix& matrix(const Weight& w);
  // A float vector (norm weights, biases, rope tables, LoRA factors), keyed by its host storage.
  const float* vector(const std::vector<float>& v);
  const float* vector(const float* host, size_t n);
  uint64_t bytes() const { return bytes_; }

 private:
  void* keep(size_t bytes);
  std::map<const Weight*, std::unique_ptr<DeviceMatrix>> matrices_;
  std::map<const float*, const float*> vectors_;
  std::vector<void*> allocations_;
  uint64_t bytes_ = 0;
};

// The weight types (and bitsandbytes forms) that have CUDA kernels; the first weight of `model`
// without one, or nullptr.
const Weight* first_unsupported_weight(const Model& model);

// Uploads every weight of `model` (and its adapters) to the current device. Throws Error(Unsupported):
// no CUDA in this build, no device, a weight type without a kernel, or the device's memory exhausted.
std::unique_ptr<Backend> make_cuda_backend(const Model& model);

}  // namespace ckpt::runtime::cuda
