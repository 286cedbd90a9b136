// Data parallelism over libtorch's c10d with the Gloo backend: the process group torchrun's
// variables describe (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), used to sum gradients.
#pragma once

#include <memory>
#include <vector>

#include <torch/torch.h>

namespace ckpt::runtime {

class DataParallel {
 public:
  // nullptr when WORLD_SIZE is unset or 1. Throws Error naming the variable that is missing or bad.
  static std::unique_ptr<DataParallel> from_environment();
  ~DataParallel();

  int rank() const { return rank_; }
  int world() const { return world_; }
  // Sums each tensor over every rank, in place (one flattened all-reduce).
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors);

 private:
  DataParallel() = default;
  struct Group;
  std::unique_ptr<Group> group_;
  int rank_ = 0, world_ = 1;
};

}  // namespace ckpt::runtime
