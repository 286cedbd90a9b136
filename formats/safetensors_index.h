// Sharded safetensors checkpoints as transformers writes them:
//   model-00001-of-00003.safetensors ... + model.safetensors.index.json
//   {"metadata": {"total_size": <sum of tensor bytes>}, "weight_map": {"<tensor>": "<shard file>"}}
// The index is dumped with indent=2, sorted keys and a trailing newline (json.dumps(indent=2, sort_keys=True)).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "formats/safetensors.h"

namespace ckpt {

struct ShardedSafetensors {
  std::string index_path;
  std::vector<SafetensorsFile> shards;  // in file-name order
  // Every tensor once, in shard order then data order, with a pointer to the shard that owns it.
  struct Entry {
    const TensorInfo* info;
    const SafetensorsFile* shard;
  };
  std::vector<Entry> tensors;
  uint64_t declared_total_size = 0;  // metadata.total_size if present

  const Entry* find(std::string_view name) const;
};

// Reads the index and every shard it names (each fully validated). Shard names must be plain file
// names in the index's directory; every tensor of the weight_map must be in its shard and every
// tensor of a shard must be in the weight_map.
ShardedSafetensors read_safetensors_index(const std::string& index_path);

// Parses a size such as "5GB", "500MB", "2GiB" or a plain byte count, as huggingface_hub and older
// transformers do (KB/MB/GB/TB decimal, KiB/MiB/GiB binary). Throws Error(InvalidArgument).
uint64_t parse_shard_size(const std::string& text);

struct ShardedWriteResult {
  std::vector<std::string> files;  // shard files written, in order
  bool wrote_index = false;
};

// Writes `tensors` into `dir` as transformers' save_pretrained does: greedily in the given order, a new
// shard when the current one would exceed `max_shard_bytes` (a tensor larger than the limit gets a
// shard of its own). One shard -> model.safetensors and no index; more -> model-0000k-of-0000n and
// model.safetensors.index.json. Each shard carries `metadata` (transformers: {"format": "pt"}).
ShardedWriteResult write_safetensors_sharded(const std::string& dir, std::vector<TensorToWrite> tensors,
                                             uint64_t max_shard_bytes, const Metadata& metadata);

}  // namespace ckpt
