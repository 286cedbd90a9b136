#include "formats/gguf_split.h"
#include "formats/output_guard.h"

#include <filesystem>
#include <unordered_set>

#include <fmt/format.h>

namespace ckpt {

namespace fs = std::filesystem;

std::vector<size_t> plan_gguf_split(const std::vector<uint64_t>& tensor_bytes, const GgufSplitLimits& limits) {
  if (!limits.shard_of.empty()) {
    if (limits.shard_of.size() != tensor_bytes.size()) {
      throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "split plan", "names a shard for " + std::to_string(limits.shard_of.size()) + " of " + std::to_string(tensor_bytes.size()) + " tensors");
    }
    return limits.shard_of;
  }
  std::vector<size_t> shard_of(tensor_bytes.size());
  size_t shard = 0;
  uint64_t count = 0, bytes = 0;
  for (size_t i = 0; i < tensor_bytes.size(); ++i) {
    if (count > 0 && ((limits.max_tensors && count >= limits.max_tensors) ||
                      (limits.max_bytes && bytes + tensor_bytes[i] > limits.max_bytes))) {
      ++shard;
      count = 0;
      bytes = 0;
    }
    shard_of[i] = shard;
    ++count;
    bytes += tensor_bytes[i];
  }
  return shard_of;
}

std::string gguf_shard_path(const std::string& path, size_t index, size_t count) {
  const fs::path p(path);
  return (p.parent_path() / fmt::format("{}-{:05d}-of-{:05d}.gguf", p.stem().string(), index + 1, count)).string();
}

std::vector<std::string> write_gguf_split(const std::string& path, const std::vector<GgufKv>& kvs,
                                          const std::vector<GgufTensorToWrite>& tensors, const GgufSplitLimits& limits) {
  std::vector<uint64_t> sizes;
  for (const auto& t : tensors) sizes.push_back(gguf_tensor_bytes(t.name, t.ne, t.dtype));
  const auto shard_of = plan_gguf_split(sizes, limits);
  const size_t n_shards = shard_of.empty() ? 1 : shard_of.back() + 1;
  if (n_shards == 1) {
    write_gguf(path, kvs, tensors);
    return {path};
  }
  if (n_shards > UINT16_MAX) {
    throw Error(ErrorCode::InvalidArgument, path, Error::kNoOffset, "split", "more than 65535 shards");
  }
  // Shards are staged together and renamed into place at the end: an interrupted split leaves no
  // partial set that a loader could mistake for a whole one.
  StagingDir stage(path, /*force=*/false, StagingDir::Mode::FilesBeside);
  const std::string staged_path = (fs::path(stage.path()) / fs::path(path).filename()).string();
  std::vector<std::string> written;
  for (size_t s = 0; s < n_shards; ++s) {
    std::vector<GgufKv> shard_kvs = s == 0 ? kvs : std::vector<GgufKv>{};
    shard_kvs.push_back({"split.no", {static_cast<uint16_t>(s)}, 0});
    shard_kvs.push_back({"split.count", {static_cast<uint16_t>(n_shards)}, 0});
    shard_kvs.push_back({"split.tensors.count", {static_cast<int32_t>(tensors.size())}, 0});
    std::vector<GgufTensorToWrite> shard_tensors;
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (shard_of[i] == s) shard_tensors.push_back(tensors[i]);
    }
    write_gguf(gguf_shard_path(staged_path, s, n_shards), shard_kvs, shard_tensors);
    written.push_back(gguf_shard_path(path, s, n_shards));
  }
  stage.commit();
  return written;
}

const GgufSet::Entry* GgufSet::find(std::string_view name) const {
  for (const auto& e : tensors) {
    if (e.info->name == name) return &e;
  }
  return nullptr;
}

namespace {
uint64_t split_value(const GgufFile& f, const char* key) {
  const auto* kv = f.find_kv(key);
  const auto v = kv ? kv->value.as_u64() : std::nullopt;
  if (!v) throw Error(ErrorCode::NotFound, f.file->path(), kv ? kv->offset_in_file : 0, key, "missing or not an integer");
  return *v;
}
}  // namespace

GgufSet open_gguf_set(const std::string& path, const GgufReadOptions& options) {
  GgufSet set;
  set.shards.push_back(read_gguf(path, options));
  const auto* count_kv = set.shards[0].find_kv("split.count");
  const uint64_t count = count_kv ? split_value(set.shards[0], "split.count") : 1;
  if (count > 1) {
    const uint64_t no = split_value(set.shards[0], "split.no");
    if (no != 0) {
      throw Error(ErrorCode::InvalidArgument, path, Error::kNoOffset, "split.no",
                  "this is shard " + std::to_string(no + 1) + " of " + std::to_string(count) + "; open the first shard");
    }
    // Shard names follow "<prefix>-00001-of-0000N.gguf"; recover the prefix from the first one.
    const std::string suffix = fmt::format("-{:05d}-of-{:05d}.gguf", 1, count);
    if (!path.ends_with(suffix)) {
      throw Error(ErrorCode::BadPath, path, Error::kNoOffset, "split.count",
                  "split set of " + std::to_string(count) + " but the name does not end in " + suffix);
    }
    const std::string stem_path = path.substr(0, path.size() - suffix.size()) + ".gguf";
    for (uint64_t s = 1; s < count; ++s) {
      const std::string shard_path = gguf_shard_path(stem_path, s, count);
      set.shards.push_back(read_gguf(shard_path, options));
      if (split_value(set.shards.back(), "split.no") != s || split_value(set.shards.back(), "split.count") != count) {
        throw Error(ErrorCode::InvalidArgument, shard_path, Error::kNoOffset, "split.no", "shard numbering does not match its name");
      }
    }
  }
  std::unordered_set<std::string_view> names;
  for (const auto& shard : set.shards) {
    for (const auto& t : shard.tensors) {
      if (!names.insert(t.name).second) {
        throw Error(ErrorCode::DuplicateName, shard.file->path(), t.info_offset_in_file, "tensor '" + t.name + "'",
                    "appears in two shards");
      }
      set.tensors.push_back({&shard, &t});
    }
  }
  if (count > 1) {
    const uint64_t declared = split_value(set.shards[0], "split.tensors.count");
    if (declared != set.tensors.size()) {
      throw Error(ErrorCode::IncompleteBuffer, path, Error::kNoOffset, "split.tensors.count",
                  "declares " + std::to_string(declared) + " tensors, the shards hold " + std::to_string(set.tensors.size()));
    }
  }
  return set;
}

}  // namespace ckpt
