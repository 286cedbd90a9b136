#include "formats/output_guard.h"
#include "formats/safetensors_index.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <unordered_set>
#include <unordered_map>

#include <fmt/format.h>

#include "formats/byte_sink.h"
#include "formats/checked_math.h"
#include "formats/json_header.h"
#include "formats/lfs_pointer.h"

namespace ckpt {

namespace fs = std::filesystem;

const ShardedSafetensors::Entry* ShardedSafetensors::find(std::string_view name) const {
  for (const auto& e : tensors) {
    if (e.info->name == name) return &e;
  }
  return nullptr;
}

ShardedSafetensors read_safetensors_index(const std::string& index_path) {
  const auto index_file = MappedFile::open(index_path);
  throw_if_lfs_pointer(index_file->bytes(), index_path);
  const std::string_view text(reinterpret_cast<const char*>(index_file->bytes().data()), index_file->size());
  const auto json = parse_json_strictly(text, index_path, 0, "index");
  auto fail = [&](ErrorCode code, std::string_view key, const std::string& field, const std::string& detail) {
    throw Error(code, index_path, locate_json_key(text, key, 0), field, detail);
  };
  if (!json.is_object()) fail(ErrorCode::BadJson, "", "index", "top level is not a JSON object");
  const auto map_it = json.find("weight_map");
  if (map_it == json.end() || !map_it->is_object()) fail(ErrorCode::BadJson, "weight_map", "weight_map", "missing or not an object");

  ShardedSafetensors out;
  out.index_path = index_path;
  if (const auto meta = json.find("metadata"); meta != json.end() && meta->is_object()) {
    if (const auto ts = meta->find("total_size"); ts != meta->end()) {
      if (!ts->is_number_unsigned()) fail(ErrorCode::BadJson, "total_size", "metadata.total_size", "not a non-negative integer");
      out.declared_total_size = ts->get<uint64_t>();
    }
  }
  std::map<std::string, std::vector<std::string>> names_by_shard;  // sorted: deterministic shard order
  for (const auto& [tensor, shard] : map_it->items()) {
    if (!shard.is_string()) fail(ErrorCode::BadJson, tensor, "weight_map '" + tensor + "'", "value is not a string");
    const auto& shard_name = shard.get_ref<const std::string&>();
    if (!is_plain_file_name(shard_name)) {
      fail(ErrorCode::BadPath, tensor, "weight_map '" + tensor + "'",
           "shard '" + shard_name + "' is not a plain file name in the index's directory");
    }
    names_by_shard[shard_name].push_back(tensor);
  }
  const fs::path dir = fs::path(index_path).parent_path();
  out.shards.reserve(names_by_shard.size());  // Entry pointers into shards must stay valid
  for (const auto& [shard_name, names] : names_by_shard) {
    const std::string shard_path = (dir / shard_name).string();
    out.shards.push_back(read_safetensors(shard_path));
    const SafetensorsFile& shard = out.shards.back();
    const std::unordered_set<std::string_view> expected(names.begin(), names.end());
    std::unordered_set<std::string_view> present;
    for (const auto& t : shard.tensors) present.insert(t.name);
    for (const auto& name : names) {
      if (!present.count(name)) {
        fail(ErrorCode::NotFound, name, "weight_map '" + name + "'", "tensor is not in shard '" + shard_name + "'");
      }
    }
    for (const auto& t : shard.tensors) {
      if (!expected.count(t.name)) {
        throw Error(ErrorCode::NotFound, shard_path, t.offset_in_file, "tensor '" + t.name + "'",
                    "tensor is in the shard but the index does not list it for this shard");
      }
      out.tensors.push_back({&t, &shard});
    }
  }
  return out;
}

uint64_t parse_shard_size(const std::string& text) {
  auto bad = [&]() -> uint64_t {
    throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "max shard size",
                "'" + text + "' is not a size like 5GB, 500MB, 2GiB or a byte count");
  };
  size_t split = 0;
  while (split < text.size() && (std::isdigit(static_cast<unsigned char>(text[split])) || text[split] == '.')) ++split;
  if (split == 0) return bad();
  double number = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + split, number);
  if (ec != std::errc() || ptr != text.data() + split) return bad();
  std::string unit;
  for (char c : text.substr(split)) unit += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::unordered_map<std::string, double> kUnits = {
      {"", 1},           {"B", 1},           {"KB", 1e3},          {"MB", 1e6},
      {"GB", 1e9},       {"TB", 1e12},       {"KIB", 1024.0},      {"MIB", 1048576.0},
      {"GIB", 1073741824.0}, {"TIB", 1099511627776.0}};
  const auto it = kUnits.find(unit);
  if (it == kUnits.end()) return bad();
  const double bytes = std::floor(number * it->second);
  if (!(bytes >= 1) || bytes >= 1.8e19) return bad();
  return static_cast<uint64_t>(bytes);
}

ShardedWriteResult write_safetensors_sharded(const std::string& dir, std::vector<TensorToWrite> tensors,
                                             uint64_t max_shard_bytes, const Metadata& metadata) {
  // Plan: greedy split in the given order (huggingface_hub split_torch_state_dict_into_shards).
  std::vector<std::vector<TensorToWrite>> shards;
  std::vector<uint64_t> shard_sizes;
  uint64_t total_size = 0;
  for (auto& t : tensors) {
    const auto numel = shape_numel(t.shape);
    const auto n_bytes = numel ? dtype_bytes_for(t.dtype, *numel) : std::nullopt;
    if (!n_bytes) {
      throw Error(ErrorCode::InvalidArgument, dir, Error::kNoOffset, "tensor '" + t.name + "' shape",
                  "size overflows or does not fill whole bytes");
    }
    total_size += *n_bytes;
    if (shards.empty() || (shard_sizes.back() > 0 && shard_sizes.back() + *n_bytes > max_shard_bytes)) {
      shards.emplace_back();
      shard_sizes.push_back(0);
    }
    shard_sizes.back() += *n_bytes;
    shards.back().push_back(std::move(t));
  }
  if (shards.empty()) shards.emplace_back();

  ShardedWriteResult result;
  const fs::path out_dir(dir);
  if (shards.size() == 1) {
    const std::string path = (out_dir / "model.safetensors").string();
    write_safetensors(path, std::move(shards[0]), metadata);
    result.files.push_back(path);
    return result;
  }
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
    for (const auto& t : shards[i]) weight_map[t.name] = name;
    const std::string path = (out_dir / name).string();
    write_safetensors(path, std::move(shards[i]), metadata);
    result.files.push_back(path);
  }
  nlohmann::json index = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
  // Python's json.dumps(indent=2, sort_keys=True) escapes non-ASCII; nlohmann's std::map keeps keys sorted.
  const std::string text = index.dump(2, ' ', /*ensure_ascii=*/true) + "\n";
  const std::string index_path = (out_dir / "model.safetensors.index.json").string();
  write_text_file(index_path, text);
  result.wrote_index = true;
  return result;
}

}  // namespace ckpt
