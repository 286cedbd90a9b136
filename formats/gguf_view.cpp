#include "formats/gguf_view.h"
#include "formats/model_card.h"

#include "formats/ckpt_archive.h"

#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "formats/json_header.h"
#include "formats/permute.h"
#include "formats/tokenizer_meta.h"

namespace ckpt {

namespace fs = std::filesystem;

std::vector<uint64_t> gguf_dims_after(const SourceTensor& source, TensorOp op) {
  std::vector<uint64_t> ne(source.shape.rbegin(), source.shape.rend());
  if (op == TensorOp::Transpose && ne.size() == 2) std::swap(ne[0], ne[1]);
  if (ne.empty()) ne.push_back(1);  // ggml stores a scalar as one element of n_dims 1
  return ne;
}

HfModel open_hf_model(const std::string& dir) {
  if (is_ckpt_archive_path(dir)) {
    ModelSource source = open_model_source(dir);
    if (source.kind != SourceKind::HfCheckpoint || !source.config_path) {
      throw Error(ErrorCode::Unsupported, dir, Error::kNoOffset, "origin",
                  "this archive holds a " + std::string(source_kind_name(source.kind)) + (source.config_path ? "" : " without config.json") +
                      ", not an HF checkpoint");
    }
    JsonFile config = JsonFile::read(*source.config_path);
    return {std::move(source), std::move(config)};
  }
  const fs::path config = fs::path(dir) / "config.json";
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "adapter_config.json", ec)) {
    throw Error(ErrorCode::Unsupported, dir, Error::kNoOffset, "adapter_config.json",
                "this is a PEFT adapter, not a model: merge it into its base model first");
  }
  if (!fs::is_directory(dir, ec) || !fs::exists(config)) {
    throw Error(ErrorCode::NotFound, dir, Error::kNoOffset, "config.json",
                "not an HF checkpoint directory: config.json is missing");
  }
  return {open_model_source(dir), JsonFile::read(config.string())};
}

namespace {

// The first `rows` rows of a 2-D tensor, viewed in place (or decoded and cut, for FP8 and the like).
std::shared_ptr<SourceTensor> first_rows(const SourceTensor& src, uint64_t rows) {
  auto t = std::make_shared<SourceTensor>(src);
  const uint64_t cols = src.shape[1];
  t->shape[0] = rows;
  if (src.decode) {
    t->decode = [decode = src.decode, n = rows * cols] {
      auto v = decode();
      v.resize(n);
      return v;
    };
  } else {
    t->data = src.data.first(*dtype_bytes_for(src.dtype, rows * cols));
  }
  return t;
}

// Before anything is written: every tensor config.json implies is present with the shape it implies,
// and nothing else (a 5th layer in a 4-layer config) slips through. Without this, 15 kinds of broken
// checkpoint became GGUFs that llama.cpp and `ckpt run` then refused.
void check_tensors_against_config(const Architecture& arch, const ArchHparams& h, const std::vector<GgufViewTensor>& tensors,
                                  const JsonFile& config) {
  if (!arch.expected_tensors) return;
  std::unordered_map<std::string, const ExpectedTensor*> expected;
  const auto table = arch.expected_tensors(h);
  for (const auto& e : table) expected.emplace(e.name, &e);
  std::unordered_map<std::string, const GgufViewTensor*> present;
  for (const auto& t : tensors) {
    present.emplace(t.name, &t);
    const SourceTensor& src = *t.source;
    const std::string file = src.file ? src.file->path() : config.path();
    const auto it = expected.find(t.name);
    if (it == expected.end()) {
      throw Error(ErrorCode::BadShape, file, src.offset_in_file(), "tensor '" + src.name + "'",
                  "is not part of a model with the hyper-parameters in " + config.path() + " (" +
                      std::to_string(h.n_layer) + " layers)");
    }
    if (t.ne != it->second->ne) {
      const std::vector<uint64_t> want(it->second->ne.rbegin(), it->second->ne.rend());
      const std::vector<uint64_t> got(t.ne.rbegin(), t.ne.rend());
      throw Error(ErrorCode::BadShape, file, src.offset_in_file(), "tensor '" + src.name + "'",
                  "has shape " + shape_to_string(got) + " but config.json implies " + shape_to_string(want) +
                      (t.op == TensorOp::Transpose ? " (after transposing)" : ""));
    }
  }
  for (const auto& e : table) {
    if (e.required && !present.count(e.name)) {
      throw Error(ErrorCode::NotFound, config.path(), Error::kNoOffset, e.name,
                  "the checkpoint has no tensor for it, but config.json implies it");
    }
  }
}

// For an architecture ckpt lacks: the supported table that maps the most of the checkpoint's tensors,
// and the tensors it cannot map (what a new table would have to add).
std::string unmapped_by_closest(const ModelSource& source) {
  const Architecture* best = nullptr;
  std::vector<std::string> best_missing;
  size_t best_mapped = 0;
  for (const auto& name : supported_architectures()) {
    const Architecture* a = find_architecture(name);
    if (a == best) continue;
    size_t mapped = 0;
    std::vector<std::string> missing;
    for (const auto& t : source.tensors) {
      const bool skipped = std::any_of(a->skip_suffixes.begin(), a->skip_suffixes.end(), [&](const auto& x) { return t.name.ends_with(x); });
      if (skipped) continue;
      if (map_tensor_name(*a, t.name)) {
        ++mapped;
      } else {
        missing.push_back(t.name);
      }
    }
    if (mapped > best_mapped) {
      best = a;
      best_mapped = mapped;
      best_missing = std::move(missing);
    }
  }
  if (!best || best_missing.empty()) return "";
  std::string list;
  for (size_t i = 0; i < best_missing.size() && i < 8; ++i) list += (i ? ", " : "") + best_missing[i];
  if (best_missing.size() > 8) list += ", ... (" + std::to_string(best_missing.size()) + " in all)";
  return "; closest table " + best->gguf_arch + " maps " + std::to_string(best_mapped) + " of its tensors but not: " + list;
}

}  // namespace

GgufView plan_gguf_view(const ModelSource& source, const JsonFile& file_config, const std::string& model_name,
                        uint32_t file_type) {
  const JsonFile config = file_config.with_text_config();
  const auto archs = config.json().find("architectures");
  if (archs == config.json().end() || !archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
    config.fail("architectures", "missing: cannot tell which model this is");
  }
  const std::string hf_arch = (*archs)[0].get<std::string>();
  const Architecture* arch = find_architecture(hf_arch);
  if (!arch) {
    std::string list;
    for (const auto& a : supported_architectures()) list += (list.empty() ? "" : ", ") + a;
    config.fail("architectures", "'" + hf_arch + "' is not supported (supported: " + list + ")" + unmapped_by_closest(source), ErrorCode::Unsupported);
  }
  GgufView view;
  view.architecture = arch->gguf_arch;
  auto& kvs = view.kvs;
  kvs.push_back({"general.architecture", {arch->gguf_arch}, 0});
  kvs.push_back({"general.type", {std::string("model")}, 0});
  // The model card's front matter (README.md) as convert_hf_to_gguf reads it; its name beats the
  // directory's, --name beats both.
  ModelCard card = source.dir.empty() ? ModelCard{} : read_model_card((fs::path(source.dir) / "README.md").string());
  const std::string name = !model_name.empty()          ? model_name
                           : !card.name.empty()         ? card.name
                           : !source.model_name.empty() ? source.model_name
                                                        : path_name(source.dir);
  kvs.push_back({"general.name", {name}, 0});
  for (auto& kv : card.kvs) kvs.push_back(std::move(kv));
  ArchHparams h = with_json_errors(config.path(), "config.json", [&] { return arch->write_hparams(config, kvs); });
  // Gemma 3 without tokenizer.model: tokenizer.json decides how many embedding rows are real (the rest
  // is padding); with it, llama.cpp pads the vocabulary to vocab_size instead and keeps every row.
  std::error_code ec;
  const bool trim = arch->trim_embedding_to_vocab && !fs::exists(fs::path(source.dir) / "tokenizer.model", ec);
  std::optional<TokenizerMeta> tokenizer =
      !arch->sentencepiece_vocab.empty()
          ? read_hf_sentencepiece_tokenizer(source.dir, config.path(), h.n_vocab, arch->sentencepiece_vocab)
          : read_hf_tokenizer(source.dir, config.path(), trim ? std::nullopt : std::optional<uint64_t>(h.n_vocab));
  if (tokenizer && trim && tokenizer->tokens.size() < h.n_vocab) h.n_vocab = tokenizer->tokens.size();
  kvs.push_back({"general.file_type", {file_type}, 0});

  std::vector<std::string> unknown;
  const SourceTensor* embedding = nullptr;
  bool has_output = false;
  for (const auto& src : source.tensors) {
    if (src.name == "quantization_config") continue;
    if (std::any_of(arch->skip_suffixes.begin(), arch->skip_suffixes.end(), [&](const auto& s) { return src.name.ends_with(s); }) ||
        std::any_of(arch->skip_prefixes.begin(), arch->skip_prefixes.end(), [&](const auto& s) { return src.name.starts_with(s); })) {
      continue;
    }
    const auto mapped = map_tensor_name(*arch, src.name);
    if (!mapped) {
      unknown.push_back(src.name);
      continue;
    }
    if (arch->first_duplicate_wins && std::any_of(view.tensors.begin(), view.tensors.end(), [&](const auto& v) { return v.name == mapped->gguf_name; })) {
      continue;
    }
    GgufViewTensor t;
    t.name = mapped->gguf_name;
    t.source = &src;
    t.op = mapped->op;
    t.permute_heads = heads_for_rows(t.op, h.n_head, h.n_head_kv);
    t.ne = gguf_dims_after(src, t.op);
    if (t.name == "token_embd.weight") {
      embedding = &src;
      if (trim && src.shape.size() == 2 && src.shape[0] > h.n_vocab) {
        t.source = view.generated.emplace_back(first_rows(src, h.n_vocab)).get();
        t.ne = gguf_dims_after(*t.source, t.op);
      }
    }
    if (t.name == "output.weight") has_output = true;
    view.tensors.push_back(std::move(t));
  }
  if (!unknown.empty()) {
    std::string list;
    for (size_t i = 0; i < unknown.size() && i < 20; ++i) list += (i ? ", " : "") + unknown[i];
    if (unknown.size() > 20) list += ", ... (" + std::to_string(unknown.size()) + " in all)";
    throw Error(ErrorCode::Unsupported, source.weight_files.empty() ? source.dir : source.weight_files.front(),
                Error::kNoOffset, "tensors", "cannot map to " + arch->gguf_arch + ": " + list);
  }
  if (arch->duplicate_embedding_as_output && !has_output && embedding) {
    GgufViewTensor t;
    t.name = "output.weight";
    t.source = embedding;
    t.ne = gguf_dims_after(*embedding, TensorOp::None);
    view.tensors.push_back(std::move(t));
  }
  // convert_hf_to_gguf yields generated tensors before the checkpoint's own.
  const std::vector<std::pair<std::string, const std::vector<float>*>> made = {
      {"rope_freqs.weight", &h.rope_freqs}, {"rope_factors_long.weight", &h.rope_factors_long}, {"rope_factors_short.weight", &h.rope_factors_short}};
  size_t at = 0;
  for (const auto& [made_name, values] : made) {
    if (values->empty()) continue;
    auto t = std::make_shared<SourceTensor>();
    t->name = made_name;
    t->dtype = DType::F32;
    t->stored_dtype = DType::F32;
    t->shape = {values->size()};
    t->decode = [v = *values] { return v; };
    view.generated.push_back(t);
    GgufViewTensor g;
    g.name = t->name;
    g.source = t.get();
    g.ne = {values->size()};
    view.tensors.insert(view.tensors.begin() + static_cast<ptrdiff_t>(at++), std::move(g));
  }
  check_tensors_against_config(*arch, h, view.tensors, config);
  if (!tokenizer) {
    throw Error(ErrorCode::NotFound, source.dir, Error::kNoOffset, "tokenizer",
                "no tokenizer.json or tokenizer.model: llama.cpp cannot load a model without a vocabulary");
  }
  if (arch->spm_add_space_prefix && tokenizer->model == "llama") tokenizer->add_space_prefix = *arch->spm_add_space_prefix;
  tokenizer->append_kvs(kvs);
  kvs.push_back({"general.quantization_version", {uint32_t{2}}, 0});
  kvs.push_back({"general.alignment", {kGgufDefaultAlignment}, 0});
  return view;
}

}  // namespace ckpt
