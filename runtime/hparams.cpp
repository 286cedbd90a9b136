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

}  // namespace

Hparams hparams_from_kvs(const std::vector<GgufKv>& kvs, const std::string& file) {
  KvReader root{kvs, file, ""};
  const auto arch = root.opt_str("general.architecture");
  if (!arch) root.fail(nullptr, "general.architecture", ErrorCode::NotFound, "required key is missing");
  Hparams hp;
  hp.arch_name = *arch;
  if (*arch == "llama") {
    hp.arch = Arch::Llama;
  } else if (*arch == "qwen2") {
    hp.arch = Arch::Qwen2;
  } else if (*arch == "qwen3") {
    hp.arch = Arch::Qwen3;
  } else if (*arch == "phi3") {
    hp.arch = Arch::Phi3;
  } else if (*arch == "gpt2") {
    hp.arch = Arch::Gpt2;
  } else {
    root.fail(find(kvs, "general.architecture"), "general.architecture", ErrorCode::Unsupported,
              "architecture '" + *arch + "' has no forward pass here (llama, qwen2, qwen3, phi3 and gpt2 do)");
  }
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
  if (hp.arch == Arch::Gpt2) {
    hp.norm_eps = static_cast<float>(r.opt_f("attention.layer_norm_epsilon").value_or(1e-5));
  } else {
    hp.norm_eps = static_cast<float>(r.opt_f("attention.layer_norm_rms_epsilon").value_or(1e-5));
  }
  hp.rope_base = static_cast<float>(r.opt_f("rope.freq_base").value_or(10000.0));
  hp.rope_attn_factor = static_cast<float>(r.opt_f("rope.scaling.attn_factor").value_or(1.0));
  // ggml: NORM rope for llama (the converter permuted Q/K), NEOX for qwen2.
  hp.rope_style = hp.arch == Arch::Qwen2 || hp.arch == Arch::Qwen3 || hp.arch == Arch::Phi3 ? RopeStyle::Halves : RopeStyle::Interleaved;
  if (const auto type = r.opt_str("rope.scaling.type"); type && *type != "none") {
    if (*type == "linear" || *type == "yarn") {
      const double factor = r.opt_f("rope.scaling.factor").value_or(1.0);
      if (!(factor > 0)) r.fail(find(kvs, r.prefix + "rope.scaling.factor"), r.prefix + "rope.scaling.factor", ErrorCode::BadValueType, "must be > 0");
      hp.rope_freq_scale = static_cast<float>(1.0 / factor);
      if (*type == "yarn") {
        hp.rope_yarn = true;
        hp.yarn_orig_ctx = static_cast<uint32_t>(r.opt_u32("rope.scaling.original_context_length").value_or(hp.n_ctx_train));
      }
    } else {
      r.fail(find(kvs, r.prefix + "rope.scaling.type"), r.prefix + "rope.scaling.type", ErrorCode::Unsupported,
             "rope scaling '" + *type + "' is not implemented (none, linear, yarn, and llama3 rope_freqs are)");
    }
  }
  return hp;
}

}  // namespace ckpt::runtime
