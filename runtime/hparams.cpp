#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "formats/error.h"
#include "formats/utf8.h"
#include "runtime/model_assemble.h"

namespace ckpt::runtime {
namespace {

const GgufKv* find(const std::vector<GgufKv>& kvs, const std::string& key) {
  for (const auto& kv : kvs) {
    if (kv.key == key) return &kv;
  }
  return nullptr;
}

struct KvReader {
  const std::vector<GgufKv>& kvs;
  const std::string& file;
  std::string prefix;

  [[noreturn]] void fail(const GgufKv* kv, const std::string& key, ErrorCode code, const std::string& why) const {
    throw Error(code, file, kv ? kv->offset_in_file : Error::kNoOffset, key, why);
  }
  std::optional<uint64_t> opt_u32(const std::string& name) const {
    const std::string key = prefix + name;
    const GgufKv* kv = find(kvs, key);
    if (!kv) return std::nullopt;
    const auto v = kv->value.as_u64();
    if (!v || *v > UINT32_MAX) fail(kv, key, ErrorCode::BadValueType, "expected an unsigned 32-bit integer");
    return *v;
  }
  uint32_t u32(const std::string& name) const {
    const auto v = opt_u32(name);
    if (!v) fail(nullptr, prefix + name, ErrorCode::NotFound, "required hyperparameter is missing");
    return static_cast<uint32_t>(*v);
  }
  std::optional<double> opt_f(const std::string& name) const {
    const std::string key = prefix + name;
    const GgufKv* kv = find(kvs, key);
    if (!kv) return std::nullopt;
    const auto v = kv->value.as_f64();
    if (!v || !std::isfinite(*v)) fail(kv, key, ErrorCode::BadValueType, "expected a finite number");
    return *v;
  }
  std::optional<std::string> opt_str(const std::string& name) const {
    const std::string key = prefix + name;
    const GgufKv* kv = find(kvs, key);
    if (!kv) return std::nullopt;
    if (!kv->value.as_string()) fail(kv, key, ErrorCode::BadValueType, "expected a string");
    if (find_invalid_utf8(*kv->value.as_string()) != std::string_view::npos) {
      fail(kv, key, ErrorCode::BadUtf8, "is not valid UTF-8");
    }
    return *kv->value.as_string();
  }
};

// attention.sliding_window_pattern: a period (layer il slides unless il % period == period - 1) or
// one bool per layer, as llama.cpp's get_key_or_arr reads it.
std::vector<bool> swa_pattern(const KvReader& r, uint32_t n_layer, uint32_t default_period) {
  const std::string key = r.prefix + "attention.sliding_window_pattern";
  const GgufKv* kv = find(r.kvs, key);
  std::vector<bool> out(n_layer);
  if (kv && kv->value.is_array()) {
    const auto& a = kv->value.array();
    if (a.element_type != GgufType::Bool || a.count != n_layer) {
      r.fail(kv, key, ErrorCode::BadShape, fmt::format("expected {} bools (one per layer)", n_layer));
    }
    for (uint32_t il = 0; il < n_layer; ++il) out[il] = a.at<uint8_t>(il) != 0;
    return out;
  }
  const uint32_t period = static_cast<uint32_t>(r.opt_u32("attention.sliding_window_pattern").value_or(default_period));
  for (uint32_t il = 0; il < n_layer; ++il) out[il] = period == 0 || il % period < period - 1;
  return out;
}

// Gemma 2 / 3 as llama.cpp's loaders read them (llama_model_gemma2/3::load_arch_hparams).
void read_gemma_hparams(const KvReader& r, Hparams& hp) {
  const bool gemma2 = hp.arch == Arch::Gemma2;
  hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));
  hp.gelu_gate = true;
  // gemma_pytorch: the 27B models scale queries by 1/sqrt(n_embd / n_head), the others by 1/sqrt(head_dim).
  const bool is_27b = hp.n_layer == (gemma2 ? 46u : 62u);
  hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(is_27b ? hp.n_embd / hp.n_head : hp.head_dim));
  auto cap = [&](const std::string& name, float fallback) {
    const double v = r.opt_f(name).value_or(fallback);
    if (v < 0) r.fail(find(r.kvs, r.prefix + name), r.prefix + name, ErrorCode::BadValueType, "must be >= 0");
    return static_cast<float>(v);
  };
  hp.final_softcap = cap("final_logit_softcapping", gemma2 ? 30.0f : 0.0f);
  if (gemma2) hp.attn_softcap = cap("attn_logit_softcapping", 50.0f);
  const auto window = r.opt_u32("attention.sliding_window");
  if (gemma2 || (window && *window > 0)) {
    hp.n_swa = static_cast<uint32_t>(window.value_or(4096));
    hp.swa_layers = swa_pattern(r, hp.n_layer, gemma2 ? 2 : 6);
    // Gemma 2's sliding layers rope like the others; Gemma 3's use the local base, unscaled.
    hp.rope_base_swa = static_cast<float>(r.opt_f("rope.freq_base_swa").value_or(gemma2 ? hp.rope_base : 10000.0f));
    hp.rope_freq_scale_swa = gemma2 ? hp.rope_freq_scale : 1.0f;
  }
}

}  // namespace

Hparams hparams_from_kvs(const std::vector<GgufKv>& kvs, const std::string& file) {
  KvReader root{kvs, file, ""};
  const auto arch = root.opt_str("general.architecture");
  if (!arch) root.fail(nullptr, "general.architecture", ErrorCode::NotFound, "required key is missing");
  Hparams hp;
  hp.arch_name = *arch;
  static const std::pair<const char*, Arch> kForwardPasses[] = {
      {"llama", Arch::Llama},     {"qwen2", Arch::Qwen2},   {"qwen3", Arch::Qwen3},   {"phi3", Arch::Phi3},
      {"gpt2", Arch::Gpt2},       {"gptneox", Arch::GptNeox}, {"gemma2", Arch::Gemma2}, {"gemma3", Arch::Gemma3},
      {"exaone", Arch::Exaone},   {"exaone4", Arch::Exaone4}};
  const auto known = std::find_if(std::begin(kForwardPasses), std::end(kForwardPasses), [&](const auto& e) { return *arch == e.first; });
  if (known == std::end(kForwardPasses)) {
    std::string list;
    for (size_t i = 0; i < std::size(kForwardPasses); ++i) {
      list += std::string(i == 0 ? "" : i + 1 == std::size(kForwardPasses) ? " and " : ", ") + kForwardPasses[i].first;
    }
    root.fail(find(kvs, "general.architecture"), "general.architecture", ErrorCode::Unsupported,
              "architecture '" + *arch + "' has no forward pass here (" + list + " do)");
  }
  hp.arch = known->second;
  KvReader r{kvs, file, *arch + "."};
  hp.n_layer = r.u32("block_count");
  hp.n_embd = r.u32("embedding_length");
  hp.n_ff = r.u32("feed_forward_length");
  hp.n_head = r.u32("attention.head_count");
  hp.n_head_kv = static_cast<uint32_t>(r.opt_u32("attention.head_count_kv").value_or(hp.n_head));
  hp.n_ctx_train = static_cast<uint32_t>(r.opt_u32("context_length").value_or(2048));
  auto positive = [&](uint32_t v, const std::string& name) {
    if (v == 0) r.fail(find(kvs, r.prefix + name), r.prefix + name, ErrorCode::BadShape, "must be > 0");
  };
  positive(hp.n_layer, "block_count");
  // Caps far above any published model, checked before anything is sized by these numbers.
  auto at_most = [&](uint32_t v, uint32_t cap, const std::string& name) {
    if (v > cap) r.fail(find(kvs, r.prefix + name), r.prefix + name, ErrorCode::TooLarge, fmt::format("{} exceeds {}", v, cap));
  };
  at_most(hp.n_layer, 1024, "block_count");
  at_most(hp.n_head, 4096, "attention.head_count");
  positive(hp.n_embd, "embedding_length");
  positive(hp.n_ff, "feed_forward_length");
  positive(hp.n_head, "attention.head_count");
  positive(hp.n_head_kv, "attention.head_count_kv");
  if (hp.n_head % hp.n_head_kv != 0) {
    r.fail(find(kvs, r.prefix + "attention.head_count_kv"), r.prefix + "attention.head_count_kv", ErrorCode::BadShape,
           "must divide attention.head_count");
  }
  hp.head_dim = static_cast<uint32_t>(r.opt_u32("attention.key_length").value_or(hp.n_embd / hp.n_head));
  if (hp.head_dim == 0 || hp.head_dim % 2 != 0) {
    r.fail(nullptr, r.prefix + "attention.key_length", ErrorCode::BadShape, "head dimension must be even and > 0");
  }
  hp.rope_dims = static_cast<uint32_t>(r.opt_u32("rope.dimension_count").value_or(hp.head_dim));
  if (hp.rope_dims > hp.head_dim || hp.rope_dims % 2 != 0) {
    r.fail(find(kvs, r.prefix + "rope.dimension_count"), r.prefix + "rope.dimension_count", ErrorCode::BadShape,
           "must be even and <= the head dimension");
  }
  hp.layer_norm = hp.arch == Arch::Gpt2 || hp.arch == Arch::GptNeox;
  if (hp.layer_norm) {
    hp.norm_eps = static_cast<float>(r.opt_f("attention.layer_norm_epsilon").value_or(1e-5));
  } else {
    hp.norm_eps = static_cast<float>(r.opt_f("attention.layer_norm_rms_epsilon").value_or(1e-5));
  }
  hp.rope_base = static_cast<float>(r.opt_f("rope.freq_base").value_or(10000.0));
  hp.rope_attn_factor = static_cast<float>(r.opt_f("rope.scaling.attn_factor").value_or(1.0));
  hp.yarn_orig_ctx = static_cast<uint32_t>(r.opt_u32("rope.scaling.original_context_length").value_or(hp.n_ctx_train));
  // ggml: NORM rope for llama (the converter permuted Q/K), NEOX for the others.
  hp.rope_style = hp.arch == Arch::Llama || hp.arch == Arch::Gpt2 ? RopeStyle::Interleaved : RopeStyle::Halves;
  if (const auto type = r.opt_str("rope.scaling.type"); type && *type != "none") {
    if (*type == "linear" || *type == "yarn") {
      const double factor = r.opt_f("rope.scaling.factor").value_or(1.0);
      if (!(factor > 0)) r.fail(find(kvs, r.prefix + "rope.scaling.factor"), r.prefix + "rope.scaling.factor", ErrorCode::BadValueType, "must be > 0");
      hp.rope_freq_scale = static_cast<float>(1.0 / factor);
      hp.rope_yarn = *type == "yarn";
    } else {
      r.fail(find(kvs, r.prefix + "rope.scaling.type"), r.prefix + "rope.scaling.type", ErrorCode::Unsupported,
             "rope scaling '" + *type + "' is not implemented (none, linear, yarn, and llama3 rope_freqs are)");
    }
  }
  if (hp.arch == Arch::Gemma2 || hp.arch == Arch::Gemma3) read_gemma_hparams(r, hp);
  if (hp.arch == Arch::Exaone4 && hp.n_layer == 64) {
    // llama_model_exaone4::load_arch_hparams: only the 32B layout (64 layers) slides, 3 of every 4
    // layers unless the file says otherwise; its global layers skip rope.
    hp.n_swa = static_cast<uint32_t>(r.opt_u32("attention.sliding_window").value_or(4096));
    hp.swa_layers = swa_pattern(r, hp.n_layer, 4);
    hp.rope_base_swa = static_cast<float>(r.opt_f("rope.freq_base_swa").value_or(hp.rope_base));
    hp.rope_freq_scale_swa = hp.rope_freq_scale;
    hp.rope_only_swa = true;
  }
  if (hp.arch == Arch::GptNeox) {
    const std::string key = r.prefix + "use_parallel_residual";
    const GgufKv* kv = find(kvs, key);
    if (!kv || !std::holds_alternative<bool>(kv->value.data)) r.fail(kv, key, ErrorCode::BadValueType, "expected a bool (llama.cpp requires it)");
    hp.parallel_residual = std::get<bool>(kv->value.data);
  }
  return hp;
}

}  // namespace ckpt::runtime
