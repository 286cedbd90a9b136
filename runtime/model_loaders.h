// The per-format loaders behind load_model (internal).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "formats/gguf_split.h"
#include "runtime/model.h"

namespace ckpt::runtime {

Weight weight_view(std::string name, DType dtype, const std::vector<uint64_t>& ne, const std::byte* data);
Model load_gguf_model(const std::string& path);
// A GGUF already opened (a file, a split set, or the GGUF view of a .ckpt archive); `path` as given.
Model load_gguf_set(std::shared_ptr<const GgufSet> set, const std::string& path);
Model load_hf_model(const std::string& dir);

}  // namespace ckpt::runtime
