#include "formats/rewrite.h"

#include <algorithm>
#include <filesystem>

#include "formats/byte_sink.h"
#include "formats/ckpt_archive.h"
#include "formats/ckpt_archive_source.h"
#include "formats/error.h"
#include "formats/output_guard.h"
#include "formats/safetensors.h"
#include "formats/safetensors_index.h"

namespace ckpt {

namespace fs = std::filesystem;

bool is_ckpt_archive_output(const std::string& path) { return path.ends_with(".ckpt"); }

namespace {

// The plan as a .ckpt archive: a GGUF plan keeps its KVs and tensor order, an HF plan its side files.
std::vector<std::string> write_rewrite_archive(RewritePlan plan, const RewriteTarget& target) {
  if (target.split.enabled()) {
    throw Error(ErrorCode::InvalidArgument, target.path, Error::kNoOffset, "--split-max-size", "a .ckpt archive is one file; split limits do not apply");
  }
  if (!target.weights_name.empty()) {
    throw Error(ErrorCode::InvalidArgument, target.path, Error::kNoOffset, "output", "an adapter goes into an archive with its base: ckpt adapter add");
  }
  std::vector<CkptInputSection> sections;
  std::string origin;
  if (target.kind == RewriteTarget::Kind::GgufFile) {
    origin = "gguf";
    std::vector<std::string> order;
    for (const auto& t : plan.tensors) order.push_back(t.name);
    sections = ckpt_gguf_sections(plan.gguf_kvs, order);
  } else {
    origin = "hf-checkpoint";
    const ArchiveUnpackDir dir;  // the side-file writers want a directory
    for (const auto& side : plan.side_files) side(dir.path());
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir.path())) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    for (const auto& name : names) sections.push_back(CkptInputSection::file(name, "file", (fs::path(dir.path()) / name).string(), true));
  }
  if (!plan.provenance.empty()) sections.push_back(CkptInputSection::text("provenance", "provenance", plan.provenance));
  write_ckpt_archive_streamed(target.path, origin, std::move(plan.tensors), std::move(sections));
  return {target.path};
}

}  // namespace

std::vector<std::string> write_rewrite(RewritePlan plan, const RewriteTarget& target) {
  if (is_ckpt_archive_output(target.path)) return write_rewrite_archive(std::move(plan), target);
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
