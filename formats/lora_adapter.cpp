#include "formats/lora_adapter.h"

#include <cmath>
#include <map>
#include <optional>

namespace ckpt {

namespace {

bool remove_prefix(std::string& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.erase(0, prefix.size());
  return true;
}

// Every `from` in `s` becomes `to` (built anew: GCC 12's -Wrestrict misreads in-place replace here).
void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, pos)) {
    out.append(s, pos, at - pos);
    out.append(to);
    pos = at + from.size();
  }
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

enum class Role { A, B, BBias, EmbA, EmbB, Magnitude, Full };

struct ParsedKey {
  std::string module;  // or the full tensor's base name
  Role role = Role::Full;
};

// Splits "<module>.<marker><rest>" where rest is "", ".weight", ".bias", ".<adapter>" or ".<adapter>.weight".
std::optional<ParsedKey> split_marker(const std::string& key, std::string_view marker, Role role) {
  const std::string needle = "." + std::string(marker);
  const size_t at = key.rfind(needle);
  if (at == std::string::npos) return std::nullopt;
  std::string rest = key.substr(at + needle.size());
  if (!rest.empty() && rest[0] != '.') return std::nullopt;
  std::vector<std::string> parts;
  for (size_t i = 1, next; i <= rest.size(); i = next + 1) {
    next = rest.find('.', i);
    if (next == std::string::npos) next = rest.size();
    parts.push_back(rest.substr(i, next - i));
  }
  if (!parts.empty() && (parts.back() == "weight" || parts.back() == "bias")) {
    if (parts.back() == "bias") {
      if (role != Role::B) return std::nullopt;
      role = Role::BBias;
    }
    parts.pop_back();
  }
  if (parts.size() > 1) return std::nullopt;  // at most one adapter-name component
  return ParsedKey{key.substr(0, at), role};
}

ParsedKey parse_peft_key(const std::string& raw) {
  std::string key = raw;
  remove_prefix(key, "base_model.model.");
  static const std::pair<std::string_view, Role> markers[] = {
      {"lora_A", Role::A},          {"lora_B", Role::B},
      {"lora_embedding_A", Role::EmbA}, {"lora_embedding_B", Role::EmbB},
      {"lora_magnitude_vector", Role::Magnitude},
  };
  for (const auto& [marker, role] : markers) {
    if (auto parsed = split_marker(key, marker, role)) return *parsed;
  }
  return {peft_key_to_base_name(raw), Role::Full};
}

struct Pieces {
  const SourceTensor* a = nullptr;
  const SourceTensor* b = nullptr;
  const SourceTensor* bias = nullptr;
  const SourceTensor* magnitude = nullptr;
  bool embedding = false;
  bool mixed = false;
};

[[noreturn]] void fail_tensor(const SourceTensor& t, const std::string& path, ErrorCode code, const std::string& detail) {
  throw Error(code, t.file ? t.file->path() : path, t.offset_in_file(), "tensor '" + t.name + "'", detail);
}

void set_once(const SourceTensor*& slot, const SourceTensor& t, const std::string& path) {
  if (slot) fail_tensor(t, path, ErrorCode::DuplicateName, "holds the same LoRA weight as '" + slot->name + "' (two adapter-name spellings)");
  slot = &t;
}

void build_peft_modules(LoraAdapter& out) {
  const AdapterInfo& info = *out.source.adapter;
  std::map<std::string, Pieces> pieces;  // sorted: the modules come out in a stable order
  for (const auto& t : out.source.tensors) {
    const ParsedKey k = parse_peft_key(t.name);
    if (k.role == Role::Full) {
      if (t.name.find(".original_module.") != std::string::npos) continue;  // a state_dict dump's frozen copy
      out.full.push_back({k.module, &t});
      continue;
    }
    Pieces& p = pieces[k.module];
    const bool emb = k.role == Role::EmbA || k.role == Role::EmbB;
    if ((k.role == Role::A || k.role == Role::B) && p.embedding) p.mixed = true;
    if (emb && (p.a || p.b) && !p.embedding) p.mixed = true;
    if (p.mixed) fail_tensor(t, out.source.path, ErrorCode::DuplicateName, "module '" + k.module + "' has both lora_A/B and lora_embedding_A/B");
    p.embedding = p.embedding || emb;
    switch (k.role) {
      case Role::A: case Role::EmbA: set_once(p.a, t, out.source.path); break;
      case Role::B: case Role::EmbB: set_once(p.b, t, out.source.path); break;
      case Role::BBias: set_once(p.bias, t, out.source.path); break;
      case Role::Magnitude: set_once(p.magnitude, t, out.source.path); break;
      case Role::Full: break;
    }
  }
  for (const auto& [module, p] : pieces) {
    const SourceTensor* any = p.a ? p.a : p.b ? p.b : p.magnitude ? p.magnitude : p.bias;
    if (!p.a || !p.b) {
      fail_tensor(*any, out.source.path, ErrorCode::NotFound,
                  std::string("module '") + module + "' has " + (p.a ? "lora_A" : "lora_B") + " but no " + (p.a ? "lora_B" : "lora_A"));
    }
    if (p.a->shape.size() != 2 || p.b->shape.size() != 2) {
      fail_tensor(p.a->shape.size() != 2 ? *p.a : *p.b, out.source.path, ErrorCode::BadShape, "LoRA A and B must be 2-D");
    }
    LoraModule m;
    m.module = module;
    m.embedding = p.embedding;
    m.a = p.a;
    m.b = p.b;
    m.magnitude = p.magnitude;
    m.bias = p.bias;
    m.r = p.a->shape[0];
    if (p.b->shape[1] != m.r) {
      fail_tensor(*p.b, out.source.path, ErrorCode::BadShape,
                  "is " + shape_to_string(p.b->shape) + " but lora_A " + shape_to_string(p.a->shape) + " has rank " + std::to_string(m.r));
    }
    const uint64_t configured = info.rank_for(module);
    if (configured != m.r) {
      fail_tensor(*p.a, out.source.path, ErrorCode::BadShape,
                  "has rank " + std::to_string(m.r) + " but adapter_config.json gives this module r = " + std::to_string(configured));
    }
    m.alpha = info.alpha_for(module);
    m.scale = info.scale_for(module);
    m.fan_in_fan_out = info.fan_in_fan_out;
    if (m.magnitude && (m.magnitude->shape.size() != 1 || m.magnitude->shape[0] != m.out_features())) {
      fail_tensor(*m.magnitude, out.source.path, ErrorCode::BadShape,
                  "DoRA magnitude must be [" + std::to_string(m.out_features()) + "], the module's output size");
    }
    if (m.bias && (m.bias->shape.size() != 1 || m.bias->shape[0] != m.out_features())) {
      fail_tensor(*m.bias, out.source.path, ErrorCode::BadShape, "lora_B.bias must be [" + std::to_string(m.out_features()) + "]");
    }
    out.modules.push_back(std::move(m));
  }
  if (info.use_dora) {
    for (const auto& m : out.modules) {
      if (!m.magnitude && !m.embedding) {
        fail_tensor(*m.a, out.source.path, ErrorCode::NotFound, "use_dora is true but module '" + m.module + "' has no lora_magnitude_vector");
      }
    }
  }
}

void build_gguf_modules(LoraAdapter& out) {
  const GgufFile& main = out.source.gguf->main();
  out.gguf_architecture = main.architecture();
  if (out.info.peft_type != "LORA") {
    throw Error(ErrorCode::Unsupported, main.file->path(), Error::kNoOffset, "adapter.type",
                "'" + out.info.peft_type + "' adapters are not LoRA (control vectors and others cannot be merged)");
  }
  std::map<std::string, Pieces> pieces;
  for (const auto& t : out.source.tensors) {
    const bool is_a = t.name.ends_with(".weight.lora_a"), is_b = t.name.ends_with(".weight.lora_b");
    if (!is_a && !is_b) {
      out.full.push_back({t.name, &t});
      continue;
    }
    const std::string module = t.name.substr(0, t.name.size() - std::string(".weight.lora_a").size());
    set_once(is_a ? pieces[module].a : pieces[module].b, t, out.source.path);
  }
  for (const auto& [module, p] : pieces) {
    if (!p.a || !p.b) {
      fail_tensor(p.a ? *p.a : *p.b, out.source.path, ErrorCode::NotFound,
                  "module '" + module + "' has " + (p.a ? "lora_a" : "lora_b") + " but no " + (p.a ? "lora_b" : "lora_a"));
    }
    if (module == "token_embd") {
      fail_tensor(*p.a, out.source.path, ErrorCode::Unsupported, "token embedding LoRA in GGUF adapters is not read yet");
    }
    LoraModule m;
    m.module = module;
    m.a = p.a;  // ne {in, r}: PyTorch order [r, in], as PEFT's A
    m.b = p.b;  // ne {r, out}: [out, r]
    m.r = p.a->shape.size() == 2 ? p.a->shape[0] : 0;
    if (p.a->shape.size() != 2 || p.b->shape.size() != 2 || p.b->shape[1] != m.r || m.r == 0) {
      fail_tensor(*p.b, out.source.path, ErrorCode::BadShape,
                  "lora_a " + shape_to_string(p.a->shape) + " and lora_b " + shape_to_string(p.b->shape) + " do not share a rank");
    }
    // llama.cpp: scale = alpha ? user_scale * alpha / rank : user_scale.
    m.alpha = out.info.lora_alpha;
    m.scale = m.alpha != 0 ? m.alpha / static_cast<double>(m.r) : 1.0;
    m.gguf_layout = true;
    out.modules.push_back(std::move(m));
  }
  if (!out.modules.empty()) out.info.r = out.modules.front().r;
}

}  // namespace

// The base weight's [rows, cols]: Linear [out, in]; Embedding [vocab, dim] (A is [r, vocab], B [dim, r]).
uint64_t LoraModule::out_features() const { return embedding ? a->shape[1] : b->shape[0]; }
uint64_t LoraModule::in_features() const { return embedding ? b->shape[0] : a->shape[1]; }

const LoraModule* LoraAdapter::find(const std::string& module) const {
  for (const auto& m : modules) {
    if (m.module == module) return &m;
  }
  return nullptr;
}

std::string peft_key_to_base_name(const std::string& raw) {
  std::string key = raw;
  remove_prefix(key, "base_model.model.");
  replace_all(key, ".modules_to_save.default.", ".");
  replace_all(key, ".base_layer.", ".");
  return key;
}

std::unique_ptr<LoraAdapter> open_lora_adapter(const std::string& path) {
  auto out = std::make_unique<LoraAdapter>();
  out->source = open_model_source(path);
  if (!out->source.adapter) {
    throw Error(ErrorCode::InvalidArgument, path, Error::kNoOffset, "adapter",
                "is a " + std::string(source_kind_name(out->source.kind)) + ", not a LoRA adapter (a PEFT directory or a GGUF LoRA)");
  }
  out->info = *out->source.adapter;
  out->gguf = out->source.kind == SourceKind::GgufAdapter;
  if (out->gguf) {
    build_gguf_modules(*out);
  } else {
    if (out->info.peft_type != "LORA") {
      throw Error(ErrorCode::Unsupported, out->info.config_path, Error::kNoOffset, "peft_type",
                  "'" + out->info.peft_type + "' adapters are not LoRA; ckpt merges LoRA (and DoRA) adapters");
    }
    build_peft_modules(*out);
  }
  for (const auto& t : out->source.tensors) out->n_parameters += shape_numel(t.shape).value_or(0);
  if (out->modules.empty() && out->full.empty()) {
    throw Error(ErrorCode::NotFound, out->source.weight_files.empty() ? path : out->source.weight_files.front(), Error::kNoOffset,
                "adapter tensors", "the adapter holds no LoRA weights");
  }
  return out;
}

}  // namespace ckpt
