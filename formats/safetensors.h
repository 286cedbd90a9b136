// safetensors: reader and writer.
//
// Layout (huggingface/safetensors README, tensor.rs):
//   bytes 0..8      N, u64 little-endian: header length including padding
//   bytes 8..8+N    UTF-8 JSON object {"__metadata__": {str: str}, NAME: {"dtype", "shape", "data_offsets"}}
//   bytes 8+N..EOF  data buffer; data_offsets [BEGIN, END) are relative to its start
//
// The reader enforces every rule of the reference reader, inside read (never opt-in):
//   N <= 100,000,000; 8 + N <= file size; header valid UTF-8 and JSON; __metadata__ values strings;
//   no duplicate names (the reference silently keeps one); known dtype; shape product and byte size
//   without overflow; whole bytes for sub-byte dtypes; after sorting by offset each tensor starts where
//   the previous ended (no gap, no overlap); END - BEGIN == numel x dtype size; and the last END is the
//   end of the file (no trailing bytes: no polyglot files).
// The writer follows the reference layout: tensors sorted by dtype (largest alignment first) then
// name, offsets contiguous from 0, compact JSON with __metadata__ first, header padded with spaces to
// a multiple of 8 so every tensor is naturally aligned.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "formats/mapped_file.h"
#include "formats/tensor.h"

namespace ckpt {

class ByteSink;

inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;  // safetensors MAX_HEADER_SIZE

struct SafetensorsFile {
  std::shared_ptr<const MappedFile> file;
  uint64_t header_bytes = 0;                                  // N
  std::vector<std::pair<std::string, std::string>> metadata;  // __metadata__, in file order
  std::vector<TensorInfo> tensors;                            // in data (offset) order

  uint64_t data_offset() const { return 8 + header_bytes; }
  const TensorInfo* find(std::string_view name) const;
  std::span<const std::byte> data(const TensorInfo& tensor) const {
    return file->bytes().subspan(tensor.offset_in_file, tensor.n_bytes);
  }
};

SafetensorsFile read_safetensors(std::shared_ptr<const MappedFile> file);
SafetensorsFile read_safetensors(const std::string& path);

using Metadata = std::vector<std::pair<std::string, std::string>>;

// Serializes to `sink` in reference order. Throws Error(InvalidArgument) for a dtype safetensors lacks,
// a duplicate or empty name, or a data writer that produced the wrong byte count.
void write_safetensors(ByteSink& sink, std::vector<TensorToWrite> tensors, const Metadata& metadata);
// Same, to `path` through a temporary file renamed on success.
void write_safetensors(const std::string& path, std::vector<TensorToWrite> tensors, const Metadata& metadata);

// The header the writer would produce (padded), and the tensors in the order it would write them.
struct SafetensorsPlan {
  std::string header;  // JSON + padding; N = header.size()
  std::vector<TensorToWrite> tensors;
  std::vector<uint64_t> n_bytes;
};
SafetensorsPlan plan_safetensors(std::vector<TensorToWrite> tensors, const Metadata& metadata);

}  // namespace ckpt
