#include "formats/tensor_manifest.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/error.h"
#include "formats/hf_config.h"
#include "formats/model_source.h"
#include "formats/sha256.h"
#include "formats/parallel.h"

namespace ckpt {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> hash_all(const ModelSource& src, unsigned threads) {
  std::vector<std::string> out(src.all_tensors.size());
  parallel_each(out.size(), threads, [&](size_t i) { out[i] = to_hex(sha256(src.all_tensors[i].data)); });
  return out;
}

}  // namespace

std::string default_tensor_manifest_path(const std::string& model) {
  std::error_code ec;
  return fs::is_directory(model, ec) ? (fs::path(model) / "tensors.sha256.json").string() : model + ".sha256.json";
}

size_t write_tensor_manifest(const std::string& model, const std::string& manifest, unsigned threads) {
  const ModelSource src = open_model_source(model);
  const auto digests = hash_all(src, threads);
  nlohmann::ordered_json j = {{"format", "ckpt-tensor-manifest"}, {"version", 1}, {"model", fs::path(model).filename().string()}};
  j["tensors"] = nlohmann::ordered_json::object();
  for (size_t i = 0; i < digests.size(); ++i) {
    const auto& t = src.all_tensors[i];
    j["tensors"][t.name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"sha256", digests[i]}};
  }
  write_text_file(manifest, j.dump(2) + "\n");
  return digests.size();
}

TensorManifestCheck check_tensor_manifest(const std::string& model, const std::string& manifest, unsigned threads) {
  const JsonFile m = JsonFile::read(manifest);
  const auto& j = m.json();
  if (j.value("format", "") != "ckpt-tensor-manifest" || !j.contains("tensors") || !j["tensors"].is_object()) {
    throw Error(ErrorCode::BadJson, manifest, 0, "format", "not a ckpt-tensor-manifest (ckpt hash writes them)");
  }
  const ModelSource src = open_model_source(model);
  const auto digests = hash_all(src, threads);
  TensorManifestCheck c;
  std::vector<bool> seen;
  for (size_t i = 0; i < digests.size(); ++i) {
    const auto& t = src.all_tensors[i];
    if (!j["tensors"].contains(t.name)) {
      c.extra.push_back(t.name);
      continue;
    }
    const auto& e = j["tensors"][t.name];
    ++c.checked;
    const bool same = e.is_object() && e.value("sha256", "") == digests[i] && e.value("dtype", "") == dtype_name(t.dtype) &&
                      e.contains("shape") && e["shape"] == nlohmann::ordered_json(t.shape);
    if (!same) c.changed.push_back(t.name);
  }
  for (const auto& item : j["tensors"].items()) {
    const std::string name = item.key();  // (clang 14 cannot capture a structured binding)
    if (!src.find(name) && std::none_of(src.all_tensors.begin(), src.all_tensors.end(), [&](const SourceTensor& t) { return t.name == name; })) {
      c.missing.push_back(name);
    }
  }
  return c;
}

}  // namespace ckpt
