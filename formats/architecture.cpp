#include "formats/architecture.h"

#include <cctype>

#include "formats/float_convert.h"

namespace ckpt {

// Defined in arch_*.cpp.
const Architecture& llama_architecture();
const Architecture& qwen2_architecture();
const Architecture& qwen3_architecture();
const Architecture& phi3_architecture();
const Architecture& gpt2_architecture();
const Architecture& gemma2_architecture();
const Architecture& gemma3_architecture();
const Architecture& gptneox_architecture();
const Architecture& exaone_architecture();
const Architecture& exaone4_architecture();
const Architecture& bert_architecture();
const Architecture& t5_architecture();

namespace {
const std::vector<const Architecture*>& registry() {
  static const std::vector<const Architecture*> kAll = {&llama_architecture(), &qwen2_architecture(), &qwen3_architecture(), &phi3_architecture(), &gpt2_architecture(),
                                                              &gemma2_architecture(), &gemma3_architecture(), &gptneox_architecture(),
                                                              &exaone_architecture(), &exaone4_architecture(), &bert_architecture(),
                                                              &t5_architecture()};
  return kAll;
}

// Matches `name` against `pattern` where "{bid}" stands for a decimal block id; returns the id.
std::optional<std::string> match_pattern(const std::string& pattern, const std::string& name) {
  const auto pos = pattern.find("{bid}");
  if (pos == std::string::npos) return pattern == name ? std::optional<std::string>("") : std::nullopt;
  const std::string head = pattern.substr(0, pos), tail = pattern.substr(pos + 5);
  if (name.size() <= head.size() + tail.size() || !name.starts_with(head) || !name.ends_with(tail)) return std::nullopt;
  const std::string digits = name.substr(head.size(), name.size() - head.size() - tail.size());
  if (digits.empty() || digits.size() > 6) return std::nullopt;
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return digits;
}

std::string fill(const std::string& pattern, const std::string& bid) {
  const auto pos = pattern.find("{bid}");
  return pos == std::string::npos ? pattern : pattern.substr(0, pos) + bid + pattern.substr(pos + 5);
}

std::optional<MappedName> map_with(const Architecture& arch, const std::string& name, bool to_gguf) {
  for (const char* suffix : {".weight", ".bias"}) {
    if (!name.ends_with(suffix)) continue;
    const std::string stem = name.substr(0, name.size() - std::string(suffix).size());
    for (const auto& rule : arch.tensors) {
      const auto bid = match_pattern(to_gguf ? rule.hf : rule.gguf, stem);
      if (!bid) continue;
      TensorOp op = rule.op;
      if (rule.weight_only_op && std::string(suffix) != ".weight") op = TensorOp::None;
      return MappedName{fill(to_gguf ? rule.gguf : rule.hf, *bid) + suffix, op};
    }
  }
  return std::nullopt;
}
}  // namespace

const Architecture* find_architecture(const std::string& hf_name) {
  for (const auto* a : registry()) {
    for (const auto& n : a->hf_names) {
      if (n == hf_name) return a;
    }
  }
  return nullptr;
}

std::vector<std::string> supported_architectures() {
  std::vector<std::string> out;
  for (const auto* a : registry()) out.insert(out.end(), a->hf_names.begin(), a->hf_names.end());
  return out;
}

const Architecture* find_architecture_by_gguf_name(const std::string& gguf_arch) {
  for (const auto* a : registry()) {
    if (a->gguf_arch == gguf_arch) return a;
  }
  return nullptr;
}

std::optional<MappedName> map_tensor_name(const Architecture& arch, const std::string& hf_name) {
  return map_with(arch, hf_name, true);
}

std::optional<MappedName> map_tensor_name_to_hf(const Architecture& arch, const std::string& gguf_name) {
  return map_with(arch, gguf_name, false);
}

void append_biased_mlp(std::vector<ExpectedTensor>& out, const ArchHparams& h, const std::string& b) {
  out.push_back({b + "ffn_up.weight", {h.n_embd, h.n_ff}});
  out.push_back({b + "ffn_up.bias", {h.n_ff}});
  out.push_back({b + "ffn_down.weight", {h.n_ff, h.n_embd}});
  out.push_back({b + "ffn_down.bias", {h.n_embd}});
}

void apply_add_one(std::span<float> values, DType stored, bool inverse) {
  for (float& x : values) {
    x += inverse ? -1.0f : 1.0f;
    if (!inverse && stored == DType::F16) x = f16_to_f32(f32_to_f16(x));
  }
}

void add_u32(std::vector<GgufKv>& kvs, const std::string& key, uint64_t value, const JsonFile& config, const std::string& from) {
  if (value > UINT32_MAX) config.fail(from, "value " + std::to_string(value) + " does not fit GGUF's u32 " + key);
  kvs.push_back({key, {static_cast<uint32_t>(value)}, 0});
}

void add_f32(std::vector<GgufKv>& kvs, const std::string& key, double value) {
  kvs.push_back({key, {static_cast<float>(value)}, 0});
}

}  // namespace ckpt
