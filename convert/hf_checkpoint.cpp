#include "convert/hf_checkpoint.h"

#include <algorithm>
#include <unordered_set>
#include <filesystem>

#include "formats/detect.h"
#include "formats/safetensors.h"
#include "formats/safetensors_index.h"
#include "formats/torch_bin.h"
#include "quantize/bnb_layout.h"

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

namespace {

// bitsandbytes checkpoints: each quantized weight and its companions (absmax, quant_map, quant_state,
// SCB, ...) become one F32 source that dequantizes when written.
void fold_bnb_families(HfCheckpoint& ckpt) {
  bool any = false;
  for (const auto& t : ckpt.tensors) any |= is_bnb_companion(t.name);
  if (!any) return;
  auto infos = std::make_shared<std::unordered_map<std::string, std::pair<TensorInfo, SourceTensor>>>();
  for (const auto& t : ckpt.tensors) {
    TensorInfo info{t.name, t.dtype, t.shape, 0, t.data.size()};
    infos->emplace(t.name, std::make_pair(info, t));
  }
  TensorLookup lookup;
  lookup.file = ckpt.weight_files.empty() ? ckpt.dir : ckpt.weight_files.front();
  lookup.find = [infos](const std::string& name) -> const TensorInfo* {
    const auto it = infos->find(name);
    return it == infos->end() ? nullptr : &it->second.first;
  };
  lookup.data = [infos](const TensorInfo& info) { return infos->at(info.name).second.data; };
  // Companions are dropped only when their weight is a recognized bnb family; a stray ".absmax"
  // stays a tensor, so the converter reports it as unmapped instead of losing it silently.
  std::unordered_set<std::string> consumed;
  for (const auto& t : ckpt.tensors) {
    if (is_bnb_companion(t.name) || !bnb_weight_shape(lookup, t.name)) continue;
    const std::string stem = t.name.substr(0, t.name.size() - std::string("weight").size());
    for (const char* suffix : {".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map",
                               ".quant_state.bitsandbytes__nf4", ".quant_state.bitsandbytes__fp4"}) {
      consumed.insert(t.name + suffix);
    }
    consumed.insert(stem + "SCB");
    consumed.insert(stem + "weight_format");
  }
  std::vector<SourceTensor> folded;
  for (const auto& t : ckpt.tensors) {
    if (consumed.count(t.name)) continue;
    const auto shape = is_bnb_companion(t.name) ? std::nullopt : bnb_weight_shape(lookup, t.name);
    if (!shape) {
      folded.push_back(t);
      continue;
    }
    SourceTensor s{t.name, DType::F32, shape->first, {}, t.file};
    s.stored_dtype = shape->second;
    s.decode = [lookup, name = t.name]() { return std::move(dequantize_bnb_weight(lookup, name)->values); };
    s.bnb4 = [lookup, name = t.name]() { return read_bnb4_weight(lookup, name); };
    folded.push_back(std::move(s));
  }
  ckpt.tensors = std::move(folded);
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
  fold_bnb_families(out);
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
