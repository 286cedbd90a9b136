#include "formats/output_guard.h"
#include "formats/ckpt_archive_adapters.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/ckpt_archive_source.h"
#include "formats/error.h"
#include "formats/parallel.h"

namespace ckpt {

namespace fs = std::filesystem;

Sha256Digest CkptAdapterBinding::digest() const {
  std::vector<std::byte> message;
  for (const auto& [name, d] : tensors) {
    const auto n = std::as_bytes(std::span(name.data(), name.size()));
    message.insert(message.end(), n.begin(), n.end());
    message.push_back(std::byte{0});
    const auto b = std::as_bytes(std::span(d));
    message.insert(message.end(), b.begin(), b.end());
  }
  return sha256(message);
}

std::string ckpt_adapter_section(const std::string& name) { return "adapter/" + name; }

bool valid_ckpt_adapter_name(const std::string& name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; });
}

std::vector<CkptAdapter> ckpt_archive_adapters(const CkptArchive& a) {
  std::vector<CkptAdapter> out;
  const std::string& path = a.file->path();
  for (const auto& s : a.sections) {
    if (s.kind != "adapter") continue;
    const std::string what = "section '" + s.name + "'";
    auto fail = [&](const std::string& field, const std::string& why) { return Error(ErrorCode::BadJson, path, s.offset, what + " " + field, why); };
    const auto bytes = a.section_bytes(s);
    const auto j = nlohmann::json::parse(reinterpret_cast<const char*>(bytes.data()), reinterpret_cast<const char*>(bytes.data()) + bytes.size(), nullptr, false);
    if (!j.is_object()) throw fail("", "is not a JSON object");
    CkptAdapter x;
    x.offset = s.offset;
    auto str = [&](const char* key) {
      if (!j.contains(key) || !j[key].is_string()) throw fail(key, "missing or not a string");
      return j[key].get<std::string>();
    };
    x.name = str("name");
    if (!valid_ckpt_adapter_name(x.name) || s.name != ckpt_adapter_section(x.name)) throw fail("name", "'" + x.name + "' does not match the section's name");
    x.format = str("format");
    if (x.format != "peft" && x.format != "gguf-lora") throw fail("format", "'" + x.format + "' is not peft or gguf-lora");
    x.peft_type = j.value("peft_type", std::string());
    if (j.contains("r") && j["r"].is_number_unsigned()) x.r = j["r"].get<uint64_t>();
    if (j.contains("lora_alpha") && j["lora_alpha"].is_number()) x.lora_alpha = j["lora_alpha"].get<double>();
    if (j.contains("parameters") && j["parameters"].is_number_unsigned()) x.parameters = j["parameters"].get<uint64_t>();
    if (j.contains("target_modules") && j["target_modules"].is_array()) {
      for (const auto& m : j["target_modules"]) {
        if (m.is_string()) x.target_modules.push_back(m.get<std::string>());
      }
    }
    if (!j.contains("files") || !j["files"].is_array() || j["files"].empty()) throw fail("files", "missing or empty");
    for (const auto& f : j["files"]) {
      if (!f.is_string()) throw fail("files", "an entry is not a string");
      const std::string file = f.get<std::string>();
      if (!is_plain_file_name(file)) throw fail("files", "'" + file + "' is not a plain file name");
      const CkptSection* fs_ = a.find_section(s.name + "/" + file);
      if (!fs_ || fs_->kind != "adapter-file") throw Error(ErrorCode::NotFound, path, s.offset, what, "names file '" + file + "', but the archive has no section '" + s.name + "/" + file + "'");
      x.files.push_back(file);
      x.bytes += fs_->size;
    }
    if (!j.contains("base") || !j["base"].is_object() || !j["base"].contains("tensors") || !j["base"]["tensors"].is_array()) throw fail("base", "missing the base binding");
    for (const auto& t : j["base"]["tensors"]) {
      if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("sha256") || !t["sha256"].is_string()) throw fail("base.tensors", "an entry needs name and sha256");
      Sha256Digest d{};
      if (!from_hex(t["sha256"].get<std::string>(), d)) throw fail("base.tensors", "sha256 is not 64 lowercase hex digits");
      x.base.tensors.emplace_back(t["name"].get<std::string>(), d);
    }
    if (!std::is_sorted(x.base.tensors.begin(), x.base.tensors.end())) throw fail("base.tensors", "not sorted by name");
    if (!j["base"].contains("digest") || !j["base"]["digest"].is_string() || j["base"]["digest"].get<std::string>() != to_hex(x.base.digest())) {
      throw Error(ErrorCode::BadChecksum, path, s.offset, what + " base.digest", "does not match the tensors it lists");
    }
    out.push_back(std::move(x));
  }
  std::sort(out.begin(), out.end(), [](const auto& p, const auto& q) { return p.name < q.name; });
  return out;
}

const CkptAdapter* find_ckpt_adapter(const std::vector<CkptAdapter>& adapters, const std::string& name) {
  for (const auto& x : adapters) {
    if (x.name == name) return &x;
  }
  return nullptr;
}

namespace {

std::string adapter_list(const std::vector<CkptAdapter>& adapters) {
  std::string names;
  for (const auto& x : adapters) names += (names.empty() ? "" : ", ") + x.name;
  return names.empty() ? "none" : names;
}

}  // namespace

const CkptAdapter& ckpt_adapter_named(const CkptArchive& archive, const std::vector<CkptAdapter>& adapters, const std::string& name) {
  if (const CkptAdapter* x = find_ckpt_adapter(adapters, name)) return *x;
  throw Error(ErrorCode::NotFound, archive.file->path(), archive.index_offset, "adapter '" + name + "'",
              "the archive holds no adapter of this name (it holds: " + adapter_list(adapters) + ")");
}

std::vector<CkptInputSection> ckpt_adapter_sections(const CkptAdapter& x, std::vector<std::pair<std::string, std::vector<std::byte>>> files) {
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const auto& [name, d] : x.base.tensors) tensors.push_back({{"name", name}, {"sha256", to_hex(d)}});
  nlohmann::ordered_json names = nlohmann::ordered_json::array();
  for (const auto& f : files) names.push_back(f.first);
  const nlohmann::ordered_json j = {{"name", x.name},
                                    {"format", x.format},
                                    {"files", names},
                                    {"peft_type", x.peft_type},
                                    {"r", x.r},
                                    {"lora_alpha", x.lora_alpha},
                                    {"target_modules", x.target_modules},
                                    {"parameters", x.parameters},
                                    {"base", {{"digest", to_hex(x.base.digest())}, {"tensors", tensors}}}};
  std::vector<CkptInputSection> out = {CkptInputSection::text(ckpt_adapter_section(x.name), "adapter", j.dump(2))};
  for (auto& [name, bytes] : files) {
    // Weights hardly compress and would cost seconds; the config does.
    const bool weights = name.ends_with(".safetensors") || name.ends_with(".bin") || name.ends_with(".gguf");
    out.push_back({ckpt_adapter_section(x.name) + "/" + name, "adapter-file", std::move(bytes), !weights});
  }
  return out;
}

std::vector<std::string> ckpt_binding_differences(const CkptAdapterBinding& binding, const CkptArchive& archive) {
  std::vector<std::string> bad;
  for (const auto& [name, d] : binding.tensors) {
    const CkptTensor* t = archive.find_tensor(name);
    if (!t || t->sha256 != d) bad.push_back(name);
  }
  return bad;
}

std::vector<std::string> ckpt_binding_mismatches(const CkptAdapterBinding& binding, const std::string& base_path) {
  if (is_ckpt_archive_path(base_path)) return ckpt_binding_differences(binding, read_ckpt_archive(base_path));
  std::vector<std::string> bad;
  const ModelSource base = open_model_source(base_path);
  std::unordered_map<std::string, const SourceTensor*> by_name;
  for (const auto& t : base.all_tensors) by_name.emplace(t.name, &t);
  std::vector<char> differs(binding.tensors.size(), 0);
  parallel_each(binding.tensors.size(), default_thread_count(), [&](size_t i) {
    const auto it = by_name.find(binding.tensors[i].first);
    differs[i] = it == by_name.end() || it->second->data.empty() || sha256(it->second->data) != binding.tensors[i].second;
  });
  for (size_t i = 0; i < differs.size(); ++i) {
    if (differs[i]) bad.push_back(binding.tensors[i].first);
  }
  return bad;
}

namespace {

// Adapter `x` of `a`, its files unpacked into a private directory the adapter keeps alive.
std::unique_ptr<LoraAdapter> unpack_and_open(const CkptArchive& a, const CkptAdapter& x) {
  auto dir = std::make_shared<ArchiveUnpackDir>();
  for (const auto& f : x.files) dir->write(f, a.section_bytes(*a.find_section(ckpt_adapter_section(x.name) + "/" + f)), a.file->path());
  auto adapter = open_lora_adapter(x.format == "gguf-lora" ? (fs::path(dir->path()) / x.files.front()).string() : dir->path());
  adapter->source.keep_alive = dir;
  return adapter;
}

}  // namespace

std::unique_ptr<LoraAdapter> open_ckpt_adapter(const std::string& archive_path, const std::string& name) {
  const CkptArchive a = read_ckpt_archive(archive_path);
  const auto adapters = ckpt_archive_adapters(a);
  return unpack_and_open(a, ckpt_adapter_named(a, adapters, name));
}

std::optional<CkptAdapterRef> resolve_ckpt_adapter_spec(const std::string& base_path, const std::string& spec) {
  struct stat st {};
  if (::stat(spec.c_str(), &st) == 0) {
    if (!is_ckpt_archive_path(spec)) return std::nullopt;
    const auto adapters = ckpt_archive_adapters(read_ckpt_archive(spec));
    if (adapters.size() != 1) {
      throw Error(ErrorCode::InvalidArgument, spec, Error::kNoOffset, "adapter",
                  fmt::format("this archive holds {} adapters ({}); name one as {}:NAME", adapters.size(), adapter_list(adapters), spec));
    }
    return CkptAdapterRef{spec, adapters.front().name};
  }
  if (const auto colon = spec.rfind(':'); colon != std::string::npos && colon > 0 && is_ckpt_archive_path(spec.substr(0, colon))) {
    return CkptAdapterRef{spec.substr(0, colon), spec.substr(colon + 1)};
  }
  if (is_ckpt_archive_path(base_path)) {
    const auto adapters = ckpt_archive_adapters(read_ckpt_archive(base_path));
    if (find_ckpt_adapter(adapters, spec)) return CkptAdapterRef{base_path, spec};
    throw Error(ErrorCode::NotFound, spec, Error::kNoOffset, "adapter",
                "is neither a file nor an adapter inside " + base_path + " (it holds: " + adapter_list(adapters) + ")");
  }
  return std::nullopt;
}

std::unique_ptr<LoraAdapter> open_lora_adapter_for_base(const std::string& base_path, const std::string& spec) {
  const auto ref = resolve_ckpt_adapter_spec(base_path, spec);
  if (!ref) return open_lora_adapter(spec);
  const CkptArchive a = read_ckpt_archive(ref->archive);
  const auto adapters = ckpt_archive_adapters(a);
  const CkptAdapter* x = &ckpt_adapter_named(a, adapters, ref->name);
  // The base is usually the archive itself: its index, already read, answers.
  const auto bad = base_path == ref->archive ? ckpt_binding_differences(x->base, a) : ckpt_binding_mismatches(x->base, base_path);
  if (!bad.empty()) {
    throw Error(ErrorCode::BadChecksum, ref->archive, x->offset, "adapter '" + ref->name + "'",
                fmt::format("adapter built for a different base: {} of its {} base tensors differ in {} (first: '{}')", bad.size(), x->base.tensors.size(),
                            base_path, bad.front()));
  }
  return unpack_and_open(a, *x);
}

}  // namespace ckpt
