// Split GGUF sets as llama.cpp writes and reads them (gguf-split, convert_hf_to_gguf --split-max-*):
//   <prefix>-00001-of-00003.gguf ...; shard 1 holds all metadata, every shard carries
//   split.no (u16, 0-based), split.count (u16), split.tensors.count (i32).
// A new shard starts when the current one has a tensor and adding the next would pass max_tensors
// or max_bytes (gguf-py GGUFWriter.add_tensor_info).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace ckpt {

struct GgufSplitLimits {
  uint64_t max_tensors = 0;  // 0: no limit
  uint64_t max_bytes = 0;    // 0: no limit (tensor data bytes per shard)
  // The shard of every tensor, given outright (quantize --keep-split mirrors its input's shards);
  // non-decreasing, starting at 0. Overrides the limits.
  std::vector<size_t> shard_of;
  bool enabled() const { return max_tensors != 0 || max_bytes != 0 || !shard_of.empty(); }
};

// Shard index of every tensor (in order) for the given data sizes.
std::vector<size_t> plan_gguf_split(const std::vector<uint64_t>& tensor_bytes, const GgufSplitLimits& limits);

// "<dir>/<stem>-00002-of-00005.gguf" for `path` "<dir>/<stem>.gguf".
std::string gguf_shard_path(const std::string& path, size_t index, size_t count);

// Writes `tensors` to `path` (one file) or to shard files when `limits` split them into several.
// Returns the files written. Each file is written atomically.
std::vector<std::string> write_gguf_split(const std::string& path, const std::vector<GgufKv>& kvs,
                                          const std::vector<GgufTensorToWrite>& tensors, const GgufSplitLimits& limits);

// A GGUF file or a whole split set opened from any of its shards (usually the first).
struct GgufSet {
  std::vector<GgufFile> shards;  // shards[0] holds the metadata
  struct Entry {
    const GgufFile* shard;
    const GgufTensorInfo* info;
  };
  std::vector<Entry> tensors;  // all tensors in shard order

  const GgufFile& main() const { return shards.front(); }
  const Entry* find(std::string_view name) const;
};

// Opens `path`; when it carries split.count > 1, opens and checks every shard (numbering, counts,
// unique tensor names, total tensors == split.tensors.count).
GgufSet open_gguf_set(const std::string& path, const GgufReadOptions& options = {});

}  // namespace ckpt
