#include "formats/model_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <regex>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "formats/ckpt_archive_source.h"
#include "formats/detect.h"
#include "formats/fp8_fold.h"
#include "formats/json_header.h"
#include "formats/lfs_pointer.h"
#include "formats/llama2c.h"
#include "formats/safetensors.h"
#include "formats/safetensors_index.h"
#include "formats/torch_bin.h"
#include "formats/zip_reader.h"

namespace ckpt {

namespace fs = std::filesystem;

std::string_view source_kind_name(SourceKind kind) {
  switch (kind) {
    case SourceKind::HfCheckpoint: return "hf-checkpoint";
    case SourceKind::Safetensors: return "safetensors";
    case SourceKind::TorchBin: return "torch-bin";
    case SourceKind::Gguf: return "gguf";
    case SourceKind::GgufAdapter: return "gguf-lora-adapter";
    case SourceKind::Llama2c: return "llama2c";
    case SourceKind::PeftAdapter: return "peft-adapter";
  }
  return "unknown";
}

namespace {
// PEFT's get_pattern_key: re.match(rf"(.*\.)?({pattern})$", module).
bool pattern_matches(const std::string& pattern, const std::string& module, const std::string& file) {
  try {
    return std::regex_match(module, std::regex("(.*\\.)?(" + pattern + ")"));
  } catch (const std::regex_error&) {
    throw Error(ErrorCode::BadJson, file, Error::kNoOffset, "pattern '" + pattern + "'", "is not a regular expression ckpt can read");
  }
}
}  // namespace

uint64_t AdapterInfo::rank_for(const std::string& module) const {
  for (const auto& [pattern, value] : rank_pattern) {
    if (pattern_matches(pattern, module, config_path)) return value;
  }
  return r;
}

double AdapterInfo::alpha_for(const std::string& module) const {
  for (const auto& [pattern, value] : alpha_pattern) {
    if (pattern_matches(pattern, module, config_path)) return value;
  }
  return lora_alpha;
}

double AdapterInfo::scale_for(const std::string& module) const {
  const double rank = static_cast<double>(rank_for(module)), alpha = alpha_for(module);
  return use_rslora ? alpha / std::sqrt(rank) : alpha / rank;
}

double AdapterInfo::scale() const {
  if (gguf && lora_alpha == 0) return 1.0;
  if (r == 0) return 0;
  return use_rslora ? lora_alpha / std::sqrt(static_cast<double>(r)) : lora_alpha / static_cast<double>(r);
}

const SourceTensor* ModelSource::find(std::string_view name) const {
  const auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &tensors[it->second];
}

void ModelSource::index() {
  by_name_.clear();
  for (size_t i = 0; i < tensors.size(); ++i) by_name_.emplace(tensors[i].name, i);
}

TensorLookup ModelSource::lookup() const {
  auto infos = std::make_shared<std::unordered_map<std::string, std::pair<TensorInfo, std::span<const std::byte>>>>();
  for (const auto& t : all_tensors) {
    infos->emplace(t.name, std::make_pair(TensorInfo{t.name, t.dtype, t.shape, t.offset_in_file(), t.data.size()}, t.data));
  }
  TensorLookup l;
  l.file = weight_files.empty() ? path : weight_files.front();
  l.find = [infos](const std::string& name) -> const TensorInfo* {
    const auto it = infos->find(name);
    return it == infos->end() ? nullptr : &it->second.first;
  };
  l.data = [infos](const TensorInfo& info) { return infos->at(info.name).second; };
  return l;
}

std::vector<std::string> ModelSource::input_files() const {
  std::vector<std::string> files = weight_files;
  if (config_path) files.push_back(*config_path);
  files.insert(files.end(), side_files.begin(), side_files.end());
  if (adapter && !adapter->config_path.empty()) files.push_back(adapter->config_path);
  files.push_back(path);
  return files;
}

namespace {

// Within a file, tensors go in name order: convert_hf_to_gguf.py walks safetensors keys(), which are
// sorted, so output order does not depend on how a writer laid out the data.
void add_safetensors(const SafetensorsFile& file, ModelSource& out) {
  std::vector<const TensorInfo*> sorted;
  for (const auto& t : file.tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](const TensorInfo* a, const TensorInfo* b) { return a->name < b->name; });
  for (const auto* t : sorted) out.all_tensors.push_back({t->name, t->dtype, t->shape, file.data(*t), file.file, {}, t->dtype, ""});
  out.weight_files.push_back(file.file->path());
}

void add_torch_bin(const TorchBinFile& file, ModelSource& out) {
  out.weight_files.push_back(file.path);
  for (const auto& t : file.tensors) out.all_tensors.push_back({t.name, t.dtype, t.shape, t.data, file.file, {}, t.dtype, ""});
}

// Reads a weights file of any HF kind into `out`; returns a short format description.
std::string add_weights(const std::string& weights, ModelSource& out) {
  if (weights.ends_with(".bin.index.json")) {
    const auto files = read_torch_bin_index(weights);
    for (const auto& f : files) add_torch_bin(f, out);
    out.side_files.push_back(weights);
    return "pytorch .bin (" + std::to_string(files.size()) + " shards)";
  }
  if (weights.ends_with(".index.json")) {
    const ShardedSafetensors set = read_safetensors_index(weights);
    for (const auto& shard : set.shards) add_safetensors(shard, out);
    out.side_files.push_back(weights);
    return "safetensors (" + std::to_string(set.shards.size()) + " shards)";
  }
  const auto file = MappedFile::open(weights);
  throw_if_lfs_pointer(file->bytes(), weights);
  if (looks_like_zip(file->bytes())) {
    add_torch_bin(read_torch_bin(file), out);
    return "pytorch .bin";
  }
  add_safetensors(read_safetensors(file), out);
  return "safetensors";
}

// The weight file of a model directory: safetensors first (what transformers prefers), then .bin.
std::string find_weights(const std::string& dir) {
  const fs::path d(dir);
  if (fs::exists(d / "model.safetensors.index.json") || fs::exists(d / "model.safetensors")) return find_hf_weights(dir);
  for (const char* name : {"pytorch_model.bin.index.json", "pytorch_model.bin"}) {
    if (fs::exists(d / name)) return (d / name).string();
  }
  return find_hf_weights(dir);  // a single odd *.safetensors, or an error listing what is there
}

void add_side_files(const fs::path& dir, ModelSource& out) {
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                           "generation_config.json", "vocab.json", "merges.txt", "added_tokens.json"}) {
    if (fs::exists(dir / name)) out.side_files.push_back((dir / name).string());
  }
}

std::vector<std::string> string_list(const nlohmann::ordered_json& v) {
  std::vector<std::string> out;
  if (v.is_string()) out.push_back(v.get<std::string>());
  if (v.is_array()) {
    for (const auto& item : v) {
      if (item.is_string()) out.push_back(item.get<std::string>());
    }
  }
  return out;
}

AdapterInfo read_adapter_config(const std::string& path) {
  const auto file = MappedFile::open(path);
  const std::string_view text(reinterpret_cast<const char*>(file->bytes().data()), file->size());
  const auto json = parse_json_strictly(text, path, 0, "adapter_config.json");
  auto fail = [&](const std::string& key, const std::string& detail) -> AdapterInfo {
    throw Error(ErrorCode::BadJson, path, locate_json_key(text, key, 0), key, detail);
  };
  if (!json.is_object()) return fail("adapter_config.json", "top level is not an object");
  AdapterInfo a;
  a.config_path = path;
  a.peft_type = json.value("peft_type", std::string("LORA"));
  if (const auto it = json.find("base_model_name_or_path"); it != json.end() && it->is_string()) a.base_model = it->get<std::string>();
  if (const auto it = json.find("task_type"); it != json.end() && it->is_string()) a.task_type = it->get<std::string>();
  const auto r = json.find("r");
  if (r == json.end() || !r->is_number_unsigned() || r->get<uint64_t>() == 0 || r->get<uint64_t>() > (uint64_t{1} << 20)) {
    return fail("r", "missing or not a positive integer rank");
  }
  a.r = r->get<uint64_t>();
  const auto alpha = json.find("lora_alpha");
  if (alpha == json.end() || !alpha->is_number() || !std::isfinite(alpha->get<double>())) {
    return fail("lora_alpha", "missing or not a finite number");
  }
  a.lora_alpha = alpha->get<double>();
  auto flag = [&](const char* key) {
    const auto it = json.find(key);
    if (it == json.end() || it->is_null()) return false;
    if (!it->is_boolean()) fail(key, "not true or false");
    return it->get<bool>();
  };
  a.use_rslora = flag("use_rslora");
  a.use_dora = flag("use_dora");
  a.fan_in_fan_out = flag("fan_in_fan_out");
  if (const auto it = json.find("target_modules"); it != json.end()) {
    a.target_modules = string_list(*it);
    a.target_modules_regex = it->is_string() && *it != "all-linear";
  }
  if (const auto it = json.find("modules_to_save"); it != json.end()) a.modules_to_save = string_list(*it);
  if (const auto it = json.find("exclude_modules"); it != json.end()) a.exclude_modules = string_list(*it);
  if (const auto it = json.find("layers_pattern"); it != json.end()) a.layers_pattern = string_list(*it);
  if (const auto it = json.find("layers_to_transform"); it != json.end() && !it->is_null()) {
    for (const auto& v : it->is_array() ? *it : nlohmann::ordered_json::array({*it})) {
      if (!v.is_number_integer()) fail("layers_to_transform", "not an integer or a list of integers");
      a.layers_to_transform.push_back(v.get<int64_t>());
    }
  }
  auto object = [&](const char* key) {
    const auto it = json.find(key);
    if (it == json.end() || it->is_null()) return nlohmann::ordered_json::object();
    if (!it->is_object()) fail(key, "not an object of {pattern: value}");
    return *it;
  };
  const auto rank_pattern = object("rank_pattern"), alpha_pattern = object("alpha_pattern");
  for (const auto& [pattern, v] : rank_pattern.items()) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() == 0 || v.get<uint64_t>() > (uint64_t{1} << 20)) {
      fail("rank_pattern", "'" + pattern + "' is not a positive integer rank");
    }
    a.rank_pattern.emplace_back(pattern, v.get<uint64_t>());
  }
  for (const auto& [pattern, v] : alpha_pattern.items()) {
    if (!v.is_number() || !std::isfinite(v.get<double>())) fail("alpha_pattern", "'" + pattern + "' is not a finite number");
    a.alpha_pattern.emplace_back(pattern, v.get<double>());
  }
  if (const auto it = json.find("bias"); it != json.end() && !it->is_null()) {
    if (!it->is_string() || (*it != "none" && *it != "all" && *it != "lora_only")) fail("bias", "not one of none, all, lora_only");
    a.bias = it->get<std::string>();
  }
  a.lora_bias = flag("lora_bias");
  // Variants that change what the tensors mean: refuse rather than merge them wrongly.
  if (const auto it = json.find("layer_replication"); it != json.end() && !it->is_null()) {
    throw Error(ErrorCode::Unsupported, path, locate_json_key(text, "layer_replication", 0), "layer_replication",
                "adapters on replicated layers cannot be merged (PEFT refuses too)");
  }
  for (const char* key : {"use_qalora", "use_bdlora"}) {
    if (flag(key)) throw Error(ErrorCode::Unsupported, path, locate_json_key(text, key, 0), key, "this LoRA variant is not implemented");
  }
  for (const auto& entry : a.rank_pattern) (void)pattern_matches(entry.first, "", path);  // reject bad regexes now
  for (const auto& entry : a.alpha_pattern) (void)pattern_matches(entry.first, "", path);
  return a;
}

ModelSource new_source(SourceKind kind, const std::string& path, std::string dir) {
  ModelSource out;
  out.kind = kind;
  out.path = path;
  out.dir = std::move(dir);
  return out;
}

ModelSource open_peft_adapter(const std::string& dir) {
  ModelSource out = new_source(SourceKind::PeftAdapter, dir, dir);
  const fs::path d(dir);
  const std::string config_path = (d / "adapter_config.json").string();
  out.adapter = with_json_errors(config_path, "adapter_config.json", [&] { return read_adapter_config(config_path); });
  std::string weights;
  for (const char* name : {"adapter_model.safetensors", "adapter_model.bin"}) {
    if (fs::exists(d / name)) {
      weights = (d / name).string();
      break;
    }
  }
  if (weights.empty()) {
    throw Error(ErrorCode::NotFound, dir, Error::kNoOffset, "adapter weights",
                "adapter_config.json without adapter_model.safetensors or adapter_model.bin");
  }
  out.format = "PEFT " + out.adapter->peft_type + " adapter, " + add_weights(weights, out);
  add_side_files(d, out);
  return out;
}

ModelSource open_hf_directory(const std::string& dir) {
  ModelSource out = new_source(SourceKind::HfCheckpoint, dir, dir);
  const fs::path d(dir);
  out.format = add_weights(find_weights(dir), out);
  if (fs::exists(d / "config.json")) out.config_path = (d / "config.json").string();
  add_side_files(d, out);
  return out;
}

void add_gguf_adapter_info(ModelSource& out) {
  const GgufFile& main = out.gguf->main();
  const auto* type = main.find_kv("general.type");
  if (!type || !type->value.as_string() || *type->value.as_string() != "adapter") return;
  out.kind = SourceKind::GgufAdapter;
  AdapterInfo a;
  a.config_path = "";
  a.gguf = true;
  const auto* atype = main.find_kv("adapter.type");
  a.peft_type = atype && atype->value.as_string() ? *atype->value.as_string() : "";
  for (auto& c : a.peft_type) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (const auto* alpha = main.find_kv("adapter.lora.alpha")) {
    const auto v = alpha->value.as_f64();
    if (!v || !std::isfinite(*v)) {
      throw Error(ErrorCode::BadValueType, main.file->path(), alpha->offset_in_file, "adapter.lora.alpha", "not a finite number");
    }
    a.lora_alpha = *v;
  }
  if (const auto* base = main.find_kv("general.base_model.0.name"); base && base->value.as_string()) a.base_model = *base->value.as_string();
  // llama.cpp stores each pair as <target>.lora_a [r, in] (ne = in, r) and <target>.lora_b.
  for (const auto& t : out.all_tensors) {
    if (t.name.ends_with(".lora_a") && t.shape.size() == 2) {
      a.r = t.shape[0];
      std::string target = t.name.substr(0, t.name.size() - std::string(".lora_a").size());  // blk.0.attn_q.weight
      if (target.ends_with(".weight")) target.resize(target.size() - std::string(".weight").size());
      const auto dot = target.rfind('.');
      const std::string module = target.substr(dot == std::string::npos ? 0 : dot + 1);  // attn_q
      if (std::find(a.target_modules.begin(), a.target_modules.end(), module) == a.target_modules.end()) {
        a.target_modules.push_back(module);
      }
    }
  }
  out.adapter = a;
}

ModelSource open_gguf(const std::string& path) {
  ModelSource out = new_source(SourceKind::Gguf, path, fs::path(path).parent_path().string());
  out.gguf = open_gguf_set(path);
  out.format = "GGUF v" + std::to_string(out.gguf->main().version) +
               (out.gguf->shards.size() > 1 ? " (" + std::to_string(out.gguf->shards.size()) + " shards)" : "");
  for (const auto& shard : out.gguf->shards) out.weight_files.push_back(shard.file->path());
  for (const auto& e : out.gguf->tensors) {
    const TensorInfo info = e.shard->tensor_info(*e.info);
    out.all_tensors.push_back({info.name, info.dtype, info.shape, e.shard->data(*e.info), e.shard->file, {}, info.dtype, ""});
  }
  return out;
}

ModelSource open_llama2c(std::shared_ptr<const MappedFile> file) {
  const Llama2cFile model = read_llama2c(file);
  ModelSource out = new_source(SourceKind::Llama2c, file->path(), fs::path(file->path()).parent_path().string());
  out.format = "llama2.c checkpoint";
  out.weight_files.push_back(file->path());
  const auto& c = model.config;
  out.llama2c_header = {{"dim", c.dim},         {"hidden_dim", c.hidden_dim}, {"n_layers", c.n_layers},
                        {"n_heads", c.n_heads}, {"n_kv_heads", c.n_kv_heads}, {"vocab_size", c.vocab_size},
                        {"seq_len", c.seq_len}};
  for (const auto& a : model.arrays) out.all_tensors.push_back({a.name, DType::F32, a.shape, a.data, file, {}, DType::F32, ""});
  return out;
}

ModelSource open_file(const std::string& path) {
  const FileKind kind = detect_file_kind(path);  // refuses FIFOs and devices without blocking
  if (kind == FileKind::Gguf) return open_gguf(path);
  const auto file = MappedFile::open(path);
  throw_if_lfs_pointer(file->bytes(), path);
  ModelSource out = new_source(SourceKind::Safetensors, path, fs::path(path).parent_path().string());
  if (looks_like_zip(file->bytes())) {
    out.kind = SourceKind::TorchBin;
    add_torch_bin(read_torch_bin(file), out);
    out.format = "pytorch .bin";
    return out;
  }
  // llama2.c has no magic: its header must describe arrays that fill the file exactly.
  if (kind != FileKind::SafetensorsIndex && looks_like_llama2c(file->bytes(), file->size())) return open_llama2c(file);
  if (kind == FileKind::SafetensorsIndex) {
    out.kind = SourceKind::Safetensors;
    out.format = add_weights(path, out);
    return out;
  }
  if (kind == FileKind::Safetensors) {
    out.kind = SourceKind::Safetensors;
    add_safetensors(read_safetensors(file), out);
    out.format = "safetensors";
    return out;
  }
  if (path.ends_with(".bin")) return open_llama2c(file);  // explains which header field is wrong
  throw Error(ErrorCode::BadMagic, path, 0, "magic",
              "not a GGUF, safetensors, pytorch .bin, llama2.c checkpoint, HF checkpoint or adapter directory");
}

}  // namespace

std::string path_name(const std::string& path) {
  fs::path p = fs::absolute(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

void refuse_gguf_adapter(const GgufFile& file, std::string_view what) {
  const auto* type = file.find_kv("general.type");
  if (type && type->value.as_string() && *type->value.as_string() == "adapter") {
    throw Error(ErrorCode::Unsupported, file.file->path(), type->offset_in_file, "general.type",
                "this is a LoRA adapter, not a model: " + std::string(what) + " needs a model (merge the adapter into its base first)");
  }
}

ModelSource open_model_source(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw Error(ErrorCode::Io, path, Error::kNoOffset, "", std::string("cannot open: ") + std::strerror(errno));
  }
  ModelSource out;
  if (S_ISDIR(st.st_mode)) {
    out = fs::exists(fs::path(path) / "adapter_config.json") ? open_peft_adapter(path) : open_hf_directory(path);
  } else {
    out = is_ckpt_archive_path(path) ? open_archive_source(path) : open_file(path);
    if (out.gguf) add_gguf_adapter_info(out);
  }
  out.tensors = out.all_tensors;
  out.index();
  if (out.kind == SourceKind::HfCheckpoint) fold_fp8_weights(out);  // FP8 weights read as the values they hold
  return out;
}

}  // namespace ckpt
