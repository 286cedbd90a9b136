#include "formats/dtype.h"

#include <cctype>

#include "formats/checked_math.h"

namespace ckpt {

std::optional<DType> dtype_from_safetensors_name(std::string_view name) {
  for (const auto& info : kDTypes) {
    if (!info.safetensors_name.empty() && info.safetensors_name == name) return info.dtype;
  }
  return std::nullopt;
}

std::optional<DType> dtype_from_ggml_id(int64_t id) {
  if (id < 0 || id >= kGgmlTypeCount) return std::nullopt;
  for (const auto& info : kDTypes) {
    if (info.ggml_id == id) return info.dtype;
  }
  return std::nullopt;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& info : kDTypes) {
    if (info.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) {
      same = std::toupper(static_cast<unsigned char>(name[i])) == static_cast<unsigned char>(info.name[i]);
    }
    if (same) return info.dtype;
  }
  return std::nullopt;
}

std::optional<uint64_t> dtype_bytes_for(DType t, uint64_t n_elements) {
  const auto& info = dtype_info(t);
  if (n_elements % info.block_elems != 0) return std::nullopt;
  return checked_mul(n_elements / info.block_elems, info.block_bytes);
}

}  // namespace ckpt
