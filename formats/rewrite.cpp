#include "formats/rewrite.h"

#include <algorithm>
#include <filesystem>

#include "formats/output_guard.h"
#include "formats/safetensors.h"
#include "formats/safetensors_index.h"

namespace ckpt {

namespace fs = std::filesystem;

std::vector<std::string> write_rewrite(RewritePlan plan, const RewriteTarget& target) {
  if (target.kind == RewriteTarget::Kind::GgufFile) {
    std::vector<GgufTensorToWrite> tensors;
    tensors.reserve(plan.tensors.size());
    for (auto& t : plan.tensors) {
      std::vector<uint64_t> ne(t.shape.rbegin(), t.shape.rend());
      if (ne.empty()) ne.push_back(1);  // ggml stores a scalar as one element of n_dims 1
      tensors.push_back({std::move(t.name), std::move(ne), t.dtype, std::move(t.write_data)});
    }
    return write_gguf_split(target.path, plan.gguf_kvs, tensors, target.split);
  }
  StagingDir stage(target.path, target.force);
  if (target.weights_name.empty()) {
    write_safetensors_sharded(stage.path(), std::move(plan.tensors), target.max_shard_bytes, plan.safetensors_metadata);
  } else {
    write_safetensors((fs::path(stage.path()) / target.weights_name).string(), std::move(plan.tensors), plan.safetensors_metadata);
  }
  for (const auto& side : plan.side_files) side(stage.path());
  stage.commit();
  std::vector<std::string> outputs;
  for (const auto& entry : fs::directory_iterator(target.path)) outputs.push_back(entry.path().string());
  std::sort(outputs.begin(), outputs.end());
  return outputs;
}

}  // namespace ckpt
