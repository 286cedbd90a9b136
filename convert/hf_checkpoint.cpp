#include "convert/hf_checkpoint.h"

#include <algorithm>
#include <filesystem>

#include "formats/detect.h"
#include "formats/safetensors.h"
#include "formats/safetensors_index.h"
#include "formats/torch_bin.h"

namespace ckpt {

namespace fs = std::filesystem;

const SourceTensor* HfCheckpoint::find(std::string_view name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors[it->second];
}

void HfCheckpoint::index() {
  by_name_.clear();
  for (size_t i = 0; i < tensors.size(); ++i) by_name_.emplace(tensors[i].name, i);
}

namespace {

// Within a file, tensors go in name order: convert_hf_to_gguf.py walks safetensors keys(), which are
// sorted, so GGUF tensor order does not depend on how a writer laid out the data.
void add_safetensors(const SafetensorsFile& file, HfCheckpoint& out) {
  std::vector<const TensorInfo*> sorted;
  for (const auto& t : file.tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](const TensorInfo* a, const TensorInfo* b) { return a->name < b->name; });
  for (const auto* t : sorted) out.tensors.push_back({t->name, t->dtype, t->shape, file.data(*t), file.file});
  out.weight_files.push_back(file.file->path());
}

std::string find_weights(const std::string& dir) {
  const fs::path d(dir);
  if (fs::exists(d / "model.safetensors.index.json") || fs::exists(d / "model.safetensors")) return find_hf_weights(dir);
  for (const char* name : {"pytorch_model.bin.index.json", "pytorch_model.bin"}) {
    if (fs::exists(d / name)) return (d / name).string();
  }
  return find_hf_weights(dir);  // explains what is missing
}

}  // namespace

HfCheckpoint open_tensor_files(const std::string& path) {
  HfCheckpoint out;
  std::error_code ec;
  const std::string weights = fs::is_directory(path, ec) ? find_weights(path) : path;
  out.dir = fs::is_directory(path, ec) ? path : fs::path(path).parent_path().string();
  if (weights.ends_with(".bin.index.json")) {
    for (auto& file : read_torch_bin_index(weights)) {
      out.weight_files.push_back(file.path);
      for (auto& t : file.tensors) out.tensors.push_back({t.name, t.dtype, t.shape, t.data, file.file});
    }
  } else if (weights.ends_with(".bin") || weights.ends_with(".pt") || weights.ends_with(".pth")) {
    auto file = read_torch_bin(weights);
    out.weight_files.push_back(file.path);
    for (auto& t : file.tensors) out.tensors.push_back({t.name, t.dtype, t.shape, t.data, file.file});
  } else if (weights.ends_with(".index.json")) {
    const ShardedSafetensors set = read_safetensors_index(weights);
    for (const auto& shard : set.shards) add_safetensors(shard, out);
  } else {
    add_safetensors(read_safetensors(weights), out);
  }
  out.index();
  return out;
}

HfCheckpoint open_hf_checkpoint(const std::string& dir) {
  const fs::path config = fs::path(dir) / "config.json";
  if (!fs::exists(config)) {
    throw Error(ErrorCode::NotFound, dir, Error::kNoOffset, "config.json",
                "not an HF checkpoint directory: config.json is missing");
  }
  HfCheckpoint out = open_tensor_files(dir);
  out.dir = dir;
  out.config = JsonFile::read(config.string());
  return out;
}

}  // namespace ckpt
