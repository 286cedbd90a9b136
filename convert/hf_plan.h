// The mapping of an HF checkpoint onto GGUF names and metadata, without writing anything: what
// `ckpt convert` writes and what the runtime reads an HF directory through (it takes the tensors
// as stored, so a wrong permutation in the converter shows up as disagreement in `ckpt run --check`).
#pragma once

#include <string>
#include <vector>

#include "convert/convert.h"
#include "convert/hf_checkpoint.h"
#include "convert/tensor_convert.h"
#include "formats/gguf.h"

namespace ckpt {

// A planned GGUF output: metadata and one job per tensor, in write order.
struct GgufConversion {
  std::string architecture;
  std::vector<GgufKv> kvs;
  std::vector<TensorJob> jobs;
  std::vector<SourceTensor> sources;  // views made by the planner (llama2.c slices); reserve() first
};

GgufConversion plan_hf_to_gguf(const HfCheckpoint& ckpt, const ConvertOptions& options);

}  // namespace ckpt
