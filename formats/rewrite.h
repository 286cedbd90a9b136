// One way out. Every rewrite (convert in both directions, quantize to GGUF types or to bitsandbytes,
// later LoRA merge and the native archive) is a plan - every output tensor's name, dtype and shape
// fixed before a byte is written, each with the writer that streams its bytes - handed to one sink:
//   GgufFile      a GGUF, split into a staged set when limits say so
//   HfDirectory   model.safetensors or shards + index, plus side files (config.json, tokenizer files),
//                 built in a staging directory and moved into place in one step
// and either kind as a .ckpt archive when the path ends in ".ckpt" (formats/ckpt_archive.h): a GGUF's
// KVs and tensor order, or an HF directory's side files, kept as sections; tensors hashed as they stream.
// A new feature adds a transform (a TensorDataWriter) or a sink kind here, not another flow.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/gguf_split.h"
#include "formats/safetensors.h"
#include "formats/tensor.h"

namespace ckpt {

struct RewritePlan {
  std::vector<TensorToWrite> tensors;  // shapes in PyTorch order (GGUF ne is their reverse)
  std::vector<GgufKv> gguf_kvs;        // GgufFile: the metadata, in order
  Metadata safetensors_metadata;       // HfDirectory: the __metadata__ of every shard
  // HfDirectory: files written beside the weights, each given the staging directory.
  std::vector<std::function<void(const std::string& dir)>> side_files;
  std::string provenance;  // .ckpt outputs: the provenance section (JSON), when the caller knows the source
};

struct RewriteTarget {
  enum class Kind { GgufFile, HfDirectory };
  Kind kind = Kind::GgufFile;
  std::string path;
  GgufSplitLimits split;                         // GgufFile
  uint64_t max_shard_bytes = uint64_t{5} * 1000 * 1000 * 1000;  // HfDirectory (save_pretrained's 5GB)
  bool force = false;                            // HfDirectory: replace a non-empty directory
  std::string weights_name;                      // HfDirectory: one file of this name (adapter_model.safetensors), never sharded

  // An HF directory: shards of at most max_shard_bytes (0: save_pretrained's 5GB), replacing a non-empty
  // directory only with `force`.
  static RewriteTarget hf_directory(std::string path, uint64_t max_shard_bytes, bool force) {
    RewriteTarget t;
    t.kind = Kind::HfDirectory;
    t.path = std::move(path);
    if (max_shard_bytes) t.max_shard_bytes = max_shard_bytes;
    t.force = force;
    return t;
  }
  static RewriteTarget gguf(std::string path, GgufSplitLimits split) {
    RewriteTarget t;
    t.path = std::move(path);
    t.split = split;
    return t;
  }
};

// A path write_rewrite writes as a .ckpt archive.
bool is_ckpt_archive_output(const std::string& path);

// Writes the plan; returns the files as they are once in place. Nothing appears at target.path until
// everything is written (see output_guard.h and signal_cleanup.h).
std::vector<std::string> write_rewrite(RewritePlan plan, const RewriteTarget& target);

}  // namespace ckpt
