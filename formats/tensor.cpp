#include "formats/tensor.h"

#include "formats/byte_sink.h"
#include "formats/checked_math.h"

namespace ckpt {

std::optional<uint64_t> shape_numel(std::span<const uint64_t> shape) { return checked_product(shape); }

std::string shape_to_string(std::span<const uint64_t> shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

TensorDataWriter write_bytes_from(std::span<const std::byte> bytes) {
  return [bytes](ByteSink& sink) { sink.write(bytes); };
}

TensorDataWriter write_bytes_from(std::shared_ptr<const MappedFile> file, std::span<const std::byte> bytes) {
  if (!file) return write_bytes_from(bytes);
  return [file = std::move(file), bytes](ByteSink& sink) { sink.write_from(*file, bytes); };
}

std::string tensor_type_name(const TensorInfo& info) {
  return info.unknown_ggml_type >= 0 ? "type " + std::to_string(info.unknown_ggml_type) + " (unknown)" : std::string(dtype_name(info.dtype));
}

}  // namespace ckpt
