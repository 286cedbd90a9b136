// The per-format loaders behind load_model (internal).
#pragma once

#include <string>
#include <vector>

#include "runtime/model.h"

namespace ckpt::runtime {

Weight weight_view(std::string name, DType dtype, const std::vector<uint64_t>& ne, const std::byte* data);
Model load_gguf_model(const std::string& path);
Model load_hf_model(const std::string& dir);

}  // namespace ckpt::runtime
