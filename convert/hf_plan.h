// The mapping of an HF checkpoint onto GGUF names and metadata, without writing anything: what
// `ckpt convert` writes and what the runtime reads an HF directory through (it takes the tensors
// as stored, so a wrong permutation in the converter shows up as disagreement in `ckpt run --check`).
#pragma once

#include <string>
#include <vector>

#include "convert/convert.h"
#include "convert/hf_config.h"
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
};

// An HF checkpoint as the converter and the runtime read it: the model source with bitsandbytes
// weights folded into decodable tensors, and its config.json.
struct HfModel {
  ModelSource source;
  JsonFile config;
};
// Opens `dir`; requires config.json. Throws Error naming the file at fault.
HfModel open_hf_model(const std::string& dir);

GgufConversion plan_hf_to_gguf(const HfModel& model, const ConvertOptions& options);

}  // namespace ckpt
