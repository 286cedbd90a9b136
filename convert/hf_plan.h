// The conversion plan of an HF checkpoint: formats' GGUF view (names, transforms, metadata) plus the
// output dtype of every tensor. Internal to convert.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "convert/convert.h"
#include "formats/gguf_view.h"
#include "formats/hf_config.h"
#include "formats/model_source.h"
#include "convert/tensor_convert.h"
#include "formats/gguf.h"

namespace ckpt {

// A planned GGUF output: metadata and one job per tensor, in write order.
struct GgufConversion {
  std::string architecture;
  std::vector<GgufKv> kvs;
  std::vector<TensorJob> jobs;
  std::vector<SourceTensor> sources;  // views made by the planner (llama2.c slices); reserve() first
  std::vector<std::shared_ptr<const SourceTensor>> generated;  // the view's made tensors (rope_freqs)
  DType outtype = DType::F16;  // what --outtype resolved to
};

GgufConversion plan_hf_to_gguf(const ModelSource& source, const JsonFile& config, const ConvertOptions& options);

}  // namespace ckpt
