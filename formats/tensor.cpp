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

}  // namespace ckpt
