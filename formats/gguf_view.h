// An HF checkpoint seen as the GGUF llama.cpp would load: GGUF tensor names (with the per-tensor
// transform: Q/K rope permutation, GPT-2 transposes), GGUF dims, and the metadata (architecture
// hyper-parameters, tokenizer.ggml.*), all from the architecture tables. `ckpt convert` writes this
// view; the runtime runs it in place. Every tensor config.json implies is checked for presence and
// shape here, before anything is written or run.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/architecture.h"
#include "formats/gguf.h"
#include "formats/hf_config.h"
#include "formats/model_source.h"

namespace ckpt {

// An HF checkpoint directory with its config.json (or a .ckpt archive made from one). Adapters are
// refused (they are not models).
// bitsandbytes families stay raw: callers that read values fold them (quantize's fold_bnb_weights).
struct HfModel {
  ModelSource source;
  JsonFile config;
};
HfModel open_hf_model(const std::string& dir);

struct GgufViewTensor {
  std::string name;          // GGUF name
  std::vector<uint64_t> ne;  // GGUF dims after the op, ne[0] innermost
  const SourceTensor* source = nullptr;
  TensorOp op = TensorOp::None;
  uint64_t permute_heads = 0;  // n_head for PermuteQ, n_head_kv for PermuteK
};

struct GgufView {
  std::string architecture;  // general.architecture
  std::vector<GgufKv> kvs;   // in convert_hf_to_gguf.py's order
  std::vector<GgufViewTensor> tensors;
  // Tensors the converter makes rather than reads (llama3 rope_freqs); `tensors` point into these.
  std::vector<std::shared_ptr<const SourceTensor>> generated;
};

// `file_type` (general.file_type, llama_ftype numbering) goes where convert_hf_to_gguf.py puts it;
// `model_name` is general.name (empty: the directory's name). Throws Error naming the file, tensor
// or config key at fault: unknown architecture or tensors, shapes that disagree with config.json,
// missing tensors, no tokenizer.
GgufView plan_gguf_view(const ModelSource& source, const JsonFile& config, const std::string& model_name,
                        uint32_t file_type);

// The GGUF dims of `source` after `op` (transposes swap the two dims; a scalar has one element).
std::vector<uint64_t> gguf_dims_after(const SourceTensor& source, TensorOp op);

}  // namespace ckpt
