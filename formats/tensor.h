// Format-independent description of one stored tensor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "formats/dtype.h"
#include "formats/error.h"

namespace ckpt {

class ByteSink;
class MappedFile;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;   // outermost dimension first (PyTorch/numpy order); GGUF ne reversed
  uint64_t offset_in_file = 0;   // absolute offset of the first data byte
  uint64_t n_bytes = 0;
  int32_t unknown_ggml_type = -1;  // GGUF: a ggml type newer than this ckpt (dtype is then a placeholder)
};

// The dtype's name, or "type N (unknown)" for a GGUF tensor of a ggml type newer than this ckpt.
std::string tensor_type_name(const TensorInfo& info);

// Element count of `shape` (1 for a scalar), or nullopt on overflow.
std::optional<uint64_t> shape_numel(std::span<const uint64_t> shape);
// "[2, 3, 4]"
std::string shape_to_string(std::span<const uint64_t> shape);

// Produces a tensor's bytes into a sink on demand, so writers can stream tensors one at a time.
// It must write exactly the byte count its tensor declares; writers check this.
using TensorDataWriter = std::function<void(ByteSink&)>;

// A tensor to be written: its description plus where its bytes come from.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;  // outermost first
  TensorDataWriter write_data;
};

// Where a reader finds tensors by name (a safetensors file, a sharded set, a model source, ...).
struct TensorLookup {
  std::function<const TensorInfo*(const std::string& name)> find;
  std::function<std::span<const std::byte>(const TensorInfo&)> data;
  std::string file;  // for messages
};

// Convenience: a TensorDataWriter that copies a span the caller keeps alive.
TensorDataWriter write_bytes_from(std::span<const std::byte> bytes);
// The same for bytes inside a mapped file (kept alive by the writer): file sinks copy them in the kernel.
TensorDataWriter write_bytes_from(std::shared_ptr<const MappedFile> file, std::span<const std::byte> bytes);

}  // namespace ckpt
