// GGUF v2/v3: reader and streaming v3 writer.
//
// Layout (ggml/src/gguf.cpp; all little-endian):
//   "GGUF" | u32 version (2 or 3) | i64 n_tensors | i64 n_kv
//   n_kv x   { string key | i32 type | value }          value of ARRAY = i32 elem type | u64 count | elems
//   n_tensors x { string name | u32 n_dims (<= 4) | i64 ne[n_dims] | i32 ggml type | u64 offset }
//   zero padding to `alignment` (general.alignment, u32 power of two, default 32), measured from file start
//   data: each tensor's bytes, zero-padded to `alignment` (the last one too)
// string = u64 length | bytes (no NUL). ne[0] is the innermost dimension (PyTorch shape reversed).
//
// The reader is as strict as llama.cpp's loader: version 1 and > 3 refused (byte-swapped versions
// named as big-endian files); counts checked against the bytes that remain before anything is
// allocated (each KV needs >= 13 bytes, each tensor info >= 24); strings <= 1 GiB; arrays <= 2^30
// elements and no arrays of arrays; keys non-empty and unique; value and element types valid;
// keys and tensor names UTF-8; bools 0 or 1; at most 65,536 KVs;
// general.alignment a u32 power of two; tensor names unique and < 64 bytes; n_dims <= 4; ne >= 0
// with no overflow; ne[0] a multiple of the type's block size; retired type ids refused; offsets
// exactly the running padded size (first 0, no gaps, no reordering); every tensor inside the file.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "formats/gguf_value.h"
#include "formats/mapped_file.h"
#include "formats/tensor.h"

namespace ckpt {

class ByteSink;

inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr uint32_t kGgufMaxDims = 4;             // GGML_MAX_DIMS
inline constexpr size_t kGgufMaxNameBytes = 63;         // GGML_MAX_NAME = 64 including the NUL
inline constexpr uint64_t kGgufMaxStringBytes = uint64_t{1} << 30;
inline constexpr uint64_t kGgufMaxArrayCount = uint64_t{1} << 30;
// Real files carry tens of KVs; 65,536 keeps a file of tiny KVs from costing ~6x its size in memory.
inline constexpr uint64_t kGgufMaxKvCount = uint64_t{1} << 16;

struct GgufKv {
  std::string key;
  GgufValue value;
  uint64_t offset_in_file = 0;  // where the key's length prefix starts (0 for KVs built in memory)
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // ggml order: ne[0] innermost; size() == n_dims as stored
  DType dtype = DType::F32;
  uint64_t offset_in_data = 0;  // relative to the data section
  uint64_t n_bytes = 0;
  uint64_t info_offset_in_file = 0;  // where this tensor's info record starts
  // A ggml type newer than this ckpt, read with GgufReadOptions::allow_unknown_types: dtype is U8 and
  // n_bytes spans to the next tensor's data (its own size cannot be computed). -1: a known type.
  int32_t unknown_ggml_type = -1;
};

struct GgufReadOptions {
  // Tensors of ggml types added after this ckpt are kept (as unknown_ggml_type) instead of refusing the
  // file: what `inspect` needs to show a modern file. Nothing that reads tensor data may set this.
  bool allow_unknown_types = false;
};

struct GgufFile {
  std::shared_ptr<const MappedFile> file;
  uint32_t version = 3;
  std::vector<GgufKv> kvs;  // in file order
  std::vector<GgufTensorInfo> tensors;  // in file order (== data order)
  uint32_t alignment = kGgufDefaultAlignment;
  uint64_t data_offset = 0;  // absolute offset of the data section

  const GgufKv* find_kv(std::string_view key) const;
  // An unsigned integer key's value, or `fallback` when the key is absent or not an unsigned integer.
  uint64_t u64_or(std::string_view key, uint64_t fallback) const;
  // general.architecture, or "" when it is missing or not a string.
  std::string architecture() const;
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  std::span<const std::byte> data(const GgufTensorInfo& t) const {
    return file->bytes().subspan(data_offset + t.offset_in_data, t.n_bytes);
  }
  // The format-independent view: shape in PyTorch order, absolute offsets.
  TensorInfo tensor_info(const GgufTensorInfo& t) const;
};

GgufFile read_gguf(std::shared_ptr<const MappedFile> file, const GgufReadOptions& options = {});
GgufFile read_gguf(const std::string& path, const GgufReadOptions& options = {});

// A tensor for the GGUF writer: ggml dims as they will be stored (ne[0] innermost).
struct GgufTensorToWrite {
  std::string name;
  std::vector<uint64_t> ne;
  DType dtype = DType::F32;
  TensorDataWriter write_data;
};

// Byte size of a tensor of `dtype` with ggml dims `ne`; throws Error(BadShape/Overflow) naming `name`.
uint64_t gguf_tensor_bytes(const std::string& name, std::span<const uint64_t> ne, DType dtype);

// Streams a GGUF to `sink`: header, KVs in the given order, tensor infos, padding, then each tensor's
// data (written by its TensorDataWriter, one at a time) and padding. Alignment comes from a
// general.alignment KV when present. Validates everything the reader would refuse.
void write_gguf(ByteSink& sink, const std::vector<GgufKv>& kvs, const std::vector<GgufTensorToWrite>& tensors,
                uint32_t version = 3);
void write_gguf(const std::string& path, const std::vector<GgufKv>& kvs,
                const std::vector<GgufTensorToWrite>& tensors, uint32_t version = 3);

}  // namespace ckpt
