// GGUF (single or split) -> HF directory: config.json from the GGUF hyperparameters, one
// model.safetensors (or shards) in PyTorch layout with llama's Q/K permutation undone, tokenizer files.
#include <chrono>
#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "formats/architecture.h"
#include "quantize/quantize.h"
#include "convert/convert_internal.h"
#include "formats/parallel.h"
#include "formats/permute.h"
#include "formats/tokenizer_meta.h"
#include "formats/byte_sink.h"
#include "formats/model_source.h"
#include "formats/output_guard.h"
#include "formats/rewrite.h"
#include "formats/safetensors_index.h"

namespace ckpt {

namespace fs = std::filesystem;

namespace {

// Hyper-parameters read for config.json, each checked against a range before it is copied: a GGUF
// with 0 or 2^32-1 layers, zero heads or a NaN rope base must not become a config.json that
// transformers (or the division by head_count below) trips over.
struct GgufHparams {
  const GgufFile& f;
  std::string arch;

  [[noreturn]] void fail(const std::string& key, const std::string& detail, ErrorCode code = ErrorCode::BadValueType) const {
    const auto* kv = f.find_kv(arch + "." + key);
    throw Error(code, f.file->path(), kv ? kv->offset_in_file : Error::kNoOffset, arch + "." + key, detail);
  }
  // Caps far above any published model (llama.cpp's own loader caps layers at 512).
  static uint64_t cap(const std::string& key) {
    if (key == "block_count") return 4096;
    if (key.starts_with("attention.head_count")) return 16384;
    if (key == "context_length") return uint64_t{1} << 24;
    if (key == "vocab_size") return uint64_t{1} << 24;
    return uint64_t{1} << 22;  // widths and lengths
  }
  std::optional<uint64_t> u(const std::string& key) const {
    const auto* kv = f.find_kv(arch + "." + key);
    if (!kv) return std::nullopt;
    const auto v = kv->value.as_u64();
    if (!v) fail(key, "expected a non-negative integer, found " + std::string(gguf_type_name(kv->value.type())));
    if (*v == 0 || *v > cap(key)) {
      fail(key, std::to_string(*v) + " is outside 1.." + std::to_string(cap(key)), ErrorCode::BadShape);
    }
    return v;
  }
  uint64_t req(const std::string& key) const {
    const auto v = u(key);
    if (!v) throw Error(ErrorCode::NotFound, f.file->path(), Error::kNoOffset, arch + "." + key, "required to write config.json");
    return *v;
  }
  std::optional<double> d(const std::string& key) const {
    const auto* kv = f.find_kv(arch + "." + key);
    if (!kv) return std::nullopt;
    const auto v = kv->value.as_f64();
    if (!v || !std::isfinite(*v) || *v <= 0) fail(key, "expected a finite positive number");
    return v;
  }
};

std::string torch_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::BF16: return "bfloat16";
    default: return "float16";
  }
}

// The sizes every transformers config names the same way.
void add_sizes(const GgufHparams& h, nlohmann::ordered_json& c) {
  c["hidden_size"] = h.req("embedding_length");
  c["intermediate_size"] = h.req("feed_forward_length");
  c["num_hidden_layers"] = h.req("block_count");
  c["num_attention_heads"] = h.req("attention.head_count");
  c["max_position_embeddings"] = h.req("context_length");
}

// What Gemma's modeling code reads beyond llama's keys, as the GGUF's loader interprets it (Gemma 3:
// sliding-window period 6 and a local base of 10000 unless the file says otherwise).
void add_gemma_config(const GgufHparams& h, nlohmann::ordered_json& c) {
  const bool gemma2 = h.arch == "gemma2";
  if (!gemma2) c["model_type"] = "gemma3_text";
  c["hidden_act"] = "gelu_pytorch_tanh";
  c["hidden_activation"] = "gelu_pytorch_tanh";
  const uint64_t head_dim = h.u("attention.key_length").value_or(h.req("embedding_length") / h.req("attention.head_count"));
  const bool is_27b = h.req("block_count") == (gemma2 ? 46u : 62u);
  c["query_pre_attn_scalar"] = is_27b ? h.req("embedding_length") / h.req("attention.head_count") : head_dim;
  c["rms_norm_eps"] = h.d("attention.layer_norm_rms_epsilon").value_or(1e-6);
  if (gemma2) {
    c["attn_logit_softcapping"] = h.d("attn_logit_softcapping").value_or(50.0);
    c["final_logit_softcapping"] = h.d("final_logit_softcapping").value_or(30.0);
    c["sliding_window"] = h.u("attention.sliding_window").value_or(4096);
  } else {
    c["rope_theta"] = h.d("rope.freq_base").value_or(1000000.0);
    c["rope_local_base_freq"] = h.d("rope.freq_base_swa").value_or(10000.0);
    c["final_logit_softcapping"] = h.d("final_logit_softcapping") ? nlohmann::ordered_json(*h.d("final_logit_softcapping")) : nullptr;
    c["attn_logit_softcapping"] = nullptr;
    if (const auto window = h.u("attention.sliding_window")) {
      c["sliding_window"] = *window;
      c["sliding_window_pattern"] = h.u("attention.sliding_window_pattern").value_or(6);
    } else {
      c["sliding_window_pattern"] = 1;
    }
    if (const auto type = h.f.find_kv("gemma3.rope.scaling.type"); type && type->value.as_string() && *type->value.as_string() == "linear") {
      c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", h.d("rope.scaling.factor").value_or(1.0)}};
    }
  }
}

// EXAONE 3's config spells its keys GPT-2's way; EXAONE 4's sliding-window layers become layer_types.
void add_exaone_config(const GgufHparams& h, nlohmann::ordered_json& c) {
  if (h.arch == "exaone") {
    c["num_layers"] = c["num_hidden_layers"];
    c.erase("num_hidden_layers");
    c["layer_norm_epsilon"] = c["rms_norm_eps"];
    c.erase("rms_norm_eps");
    c["activation_function"] = "silu";
    c.erase("hidden_act");
    return;
  }
  const uint64_t n_layer = h.req("block_count");
  if (const auto window = h.u("attention.sliding_window")) c["sliding_window"] = *window;
  const auto* kv = h.f.find_kv("exaone4.attention.sliding_window_pattern");
  if (kv && kv->value.is_array() && kv->value.array().element_type == GgufType::Bool && kv->value.array().count == n_layer) {
    nlohmann::ordered_json types = nlohmann::ordered_json::array();
    for (uint64_t i = 0; i < n_layer; ++i) types.push_back(kv->value.array().at<uint8_t>(i) ? "sliding_attention" : "full_attention");
    c["layer_types"] = types;
  }
}

nlohmann::ordered_json make_config(const GgufHparams& h, const Architecture& arch, bool tied, DType dtype,
                                   const std::optional<TokenizerMeta>& tok, uint64_t n_vocab) {
  nlohmann::ordered_json c;
  c["architectures"] = {arch.hf_names.front()};
  if (arch.gguf_arch == "gpt2") {
    c["model_type"] = "gpt2";
    c["n_layer"] = h.req("block_count");
    c["n_embd"] = h.req("embedding_length");
    c["n_head"] = h.req("attention.head_count");
    c["n_positions"] = h.req("context_length");
    c["n_ctx"] = h.req("context_length");
    c["n_inner"] = h.req("feed_forward_length");
    c["layer_norm_epsilon"] = h.d("attention.layer_norm_epsilon").value_or(1e-5);
  } else if (arch.gguf_arch == "bert") {
    c["model_type"] = "bert";
    add_sizes(h, c);
    c["layer_norm_eps"] = h.d("attention.layer_norm_epsilon").value_or(1e-12);
    c["type_vocab_size"] = h.f.u64_or("tokenizer.ggml.token_type_count", 2);
    c["hidden_act"] = "gelu";
    if (tok && tok->pad_id) c["pad_token_id"] = *tok->pad_id;
  } else if (arch.gguf_arch == "gptneox") {
    c["model_type"] = "gpt_neox";
    add_sizes(h, c);
    c["layer_norm_eps"] = h.d("attention.layer_norm_epsilon").value_or(1e-5);
    const uint64_t head_dim = h.req("embedding_length") / h.req("attention.head_count");
    c["rotary_pct"] = static_cast<double>(h.u("rope.dimension_count").value_or(head_dim)) / static_cast<double>(head_dim);
    c["rotary_emb_base"] = h.d("rope.freq_base").value_or(10000.0);
    const auto* par = h.f.find_kv("gptneox.use_parallel_residual");
    c["use_parallel_residual"] = !par || !std::holds_alternative<bool>(par->value.data) || std::get<bool>(par->value.data);
    c["hidden_act"] = "gelu";
  } else {
    c["model_type"] = arch.gguf_arch;
    add_sizes(h, c);
    c["num_key_value_heads"] = h.u("attention.head_count_kv").value_or(h.req("attention.head_count"));
    c["rms_norm_eps"] = h.d("attention.layer_norm_rms_epsilon").value_or(1e-5);
    c["rope_theta"] = h.d("rope.freq_base").value_or(10000.0);
    const uint64_t head_dim = h.req("embedding_length") / h.req("attention.head_count");
    if (const auto key = h.u("attention.key_length")) {
      c["head_dim"] = *key;  // Qwen3's config default (128) is not hidden / heads: always say it
    } else if (const auto rot = h.u("rope.dimension_count"); rot && *rot != head_dim) {
      c["head_dim"] = *rot;
    }
    c["hidden_act"] = "silu";
    if (arch.gguf_arch == "gemma2" || arch.gguf_arch == "gemma3") add_gemma_config(h, c);
    if (arch.gguf_arch == "exaone" || arch.gguf_arch == "exaone4") add_exaone_config(h, c);
  }
  c["vocab_size"] = n_vocab;
  if (arch.gguf_arch != "bert") c["tie_word_embeddings"] = tied;  // an encoder has no output head
  c["torch_dtype"] = torch_dtype_name(dtype);
  if (tok && tok->bos_id && arch.gguf_arch != "bert") c["bos_token_id"] = *tok->bos_id;
  if (tok && tok->eos_id && arch.gguf_arch != "bert") c["eos_token_id"] = *tok->eos_id;
  return c;
}

// The llama3 rope_scaling whose rope_freqs (as convert_hf_to_gguf computes them) are exactly `factors`,
// searched over the values Llama 3.x releases and their fine-tunes use.
std::optional<nlohmann::ordered_json> llama3_rope_scaling(const std::vector<float>& factors, double theta, uint64_t head_dim) {
  if (factors.empty()) return std::nullopt;
  const double factor = *std::max_element(factors.begin(), factors.end());
  // Meta's low/high (1, 4) first: with few frequencies other pairs can reproduce the same factors.
  for (const auto& [low, high] : {std::pair{1.0, 4.0}, {1.0, 2.0}, {1.0, 8.0}, {0.5, 4.0}, {2.0, 4.0}, {2.0, 8.0}, {0.5, 1.0}, {0.5, 2.0}}) {
    for (double original = 16; original <= 1048576; original *= 2) {
      if (llama3_rope_factors(theta, head_dim, factor, low, high, original) == factors) {
        return nlohmann::ordered_json{{"factor", factor},
                                      {"high_freq_factor", high},
                                      {"low_freq_factor", low},
                                      {"original_max_position_embeddings", static_cast<uint64_t>(original)},
                                      {"rope_type", "llama3"}};
      }
    }
  }
  return std::nullopt;
}

// Whether an F32 GGUF tensor's HF values (Gemma's norms less the 1 llama.cpp added) are exactly `t` values.
bool fits_exactly(const SourceTensor& s, TensorOp op, DType t) {
  std::vector<float> v(shape_numel(s.shape).value_or(0));
  decode_to_f32(s.dtype, s.data, v);
  if (op == TensorOp::AddOne) apply_add_one(v, s.dtype, /*inverse=*/true);
  std::vector<std::byte> narrow(*dtype_bytes_for(t, v.size()));
  encode_from_f32(t, v, narrow);
  std::vector<float> back(v.size());
  decode_to_f32(t, narrow, back);
  return std::equal(v.begin(), v.end(), back.begin(), [](float a, float b) { return a == b || (std::isnan(a) && std::isnan(b)); });
}

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

ConvertReport convert_gguf_to_hf(const ConvertOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const ModelSource source = open_model_source(options.input);
  if (!source.gguf) open_gguf_set(options.input);  // not a GGUF: the GGUF reader says why, naming the offset
  const GgufSet& set = *source.gguf;
  const GgufFile& main = set.main();
  refuse_gguf_adapter(main, "convert --to hf");
  const auto* arch_kv = main.find_kv("general.architecture");
  const std::string arch_name = arch_kv && arch_kv->value.as_string() ? *arch_kv->value.as_string() : "";
  const Architecture* arch = find_architecture_by_gguf_name(arch_name);
  if (!arch || arch_name == "t5") {  // T5: no encoder-decoder config writer (yet)
    throw Error(ErrorCode::Unsupported, options.input, arch_kv ? arch_kv->offset_in_file : 0, "general.architecture",
                "'" + arch_name + "' cannot be written as an HF checkpoint");
  }
  const GgufHparams h{main, arch_name};
  const uint64_t n_head = arch_name == "gpt2" ? 0 : h.req("attention.head_count");
  const uint64_t n_head_kv = arch_name == "gpt2" ? 0 : h.u("attention.head_count_kv").value_or(n_head);
  if (arch_name != "gpt2") {
    if (h.req("embedding_length") % n_head != 0) h.fail("attention.head_count", "must divide embedding_length", ErrorCode::BadShape);
    if (n_head % n_head_kv != 0) h.fail("attention.head_count_kv", "must divide attention.head_count", ErrorCode::BadShape);
  } else if (h.req("embedding_length") % h.req("attention.head_count") != 0) {
    h.fail("attention.head_count", "must divide embedding_length", ErrorCode::BadShape);
  }
  const auto tokenizer = tokenizer_from_gguf(main);

  // Tensors: GGUF names back to HF names, undoing what the forward direction did.
  const auto* embd = set.find("token_embd.weight");
  const auto* output = set.find("output.weight");
  // GPT-2 stores a copy of wte as output; HF ties them instead.
  const bool output_is_copy = embd && output && same_bytes(embd->shard->data(*embd->info), output->shard->data(*output->info));
  const bool tied = !output || (arch->duplicate_embedding_as_output && output_is_copy);
  // The model source's tensors are the set's, in the same order, with PyTorch-order shapes.
  std::vector<const SourceTensor*> sources;
  std::vector<std::pair<std::string, TensorOp>> targets;
  DType main_dtype = DType::F32;
  const SourceTensor* rope_freqs = nullptr;
  const SourceTensor *longrope_long = nullptr, *longrope_short = nullptr;
  for (size_t i = 0; i < set.tensors.size(); ++i) {
    const auto& e = set.tensors[i];
    if (e.info->name == "output.weight" && tied) continue;
    if (e.info->name == "rope_freqs.weight") {  // generated from config.json's rope_scaling: goes back there
      rope_freqs = &source.tensors[i];
      continue;
    }
    if (e.info->name == "rope_factors_long.weight" || e.info->name == "rope_factors_short.weight") {  // Phi-3 longrope, likewise
      (e.info->name == "rope_factors_long.weight" ? longrope_long : longrope_short) = &source.tensors[i];
      continue;
    }
    const auto mapped = map_tensor_name_to_hf(*arch, e.info->name);
    if (!mapped) {
      throw Error(ErrorCode::Unsupported, e.shard->file->path(), e.info->info_offset_in_file, "tensor '" + e.info->name + "'",
                  "has no HF name in the " + arch_name + " table");
    }
    const SourceTensor& t = source.tensors[i];
    sources.push_back(&t);
    targets.emplace_back(mapped->gguf_name, mapped->op);
    if (t.shape.size() >= 2) main_dtype = t.dtype;
  }
  std::optional<DType> forced;
  if (!options.outtype.empty() && options.outtype != "auto") {
    if (options.outtype == "f32") forced = DType::F32;
    if (options.outtype == "f16") forced = DType::F16;
    if (options.outtype == "bf16") forced = DType::BF16;
    if (!forced) throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--outtype", "'" + options.outtype + "' is not f32, f16, bf16 or auto for --to hf");
  }
  const unsigned threads = bounded_thread_count(options.threads);
  ConvertReport report;
  report.architecture = arch_name;
  ProgressBar progress("convert", 0, false);
  std::vector<TensorToWrite> tensors;
  for (size_t i = 0; i < sources.size(); ++i) {
    const SourceTensor& s = *sources[i];
    // Keep float types as stored (lossless); quantized tensors come back as f16 unless --outtype says otherwise.
    DType out = forced.value_or(s.dtype == DType::F32 || s.dtype == DType::F16 || s.dtype == DType::BF16 ? s.dtype : DType::F16);
    // llama.cpp widens 1-D tensors (norms, biases) to F32; when every value fits the checkpoint's own
    // 16-bit type exactly they go back to it, so a bf16 checkpoint comes back byte for byte.
    if (!forced && s.dtype == DType::F32 && s.shape.size() == 1 && (main_dtype == DType::BF16 || main_dtype == DType::F16) &&
        fits_exactly(s, targets[i].second, main_dtype)) {
      out = main_dtype;
    }
    std::vector<uint64_t> shape = s.shape;
    if (targets[i].second == TensorOp::Transpose && shape.size() == 2) std::swap(shape[0], shape[1]);
    const uint64_t heads = heads_for_rows(targets[i].second, n_head, n_head_kv);
    report.bytes_in += s.data.size();
    report.tensors.push_back({s.name, targets[i].first, std::string(dtype_name(out)), shape});
    tensors.push_back({targets[i].first, out, shape, make_tensor_writer_to_hf(s, targets[i].second, heads, out, threads, &progress)});
  }
  if (main_dtype != DType::F32 && main_dtype != DType::BF16) main_dtype = DType::F16;
  if (forced) main_dtype = *forced;
  if (options.dry_run) return report;

  // Shards of a split input are inputs too.
  check_output_path(options.output, source.input_files(), /*output_is_directory=*/true);
  const uint64_t n_vocab = h.u("vocab_size").value_or(tokenizer ? tokenizer->tokens.size() : 0);
  auto config = make_config(h, *arch, tied, main_dtype, tokenizer, n_vocab);
  if (rope_freqs) {
    std::vector<float> factors(shape_numel(rope_freqs->shape).value_or(0));
    decode_to_f32(rope_freqs->dtype, rope_freqs->data, factors);
    const uint64_t head_dim = h.u("rope.dimension_count").value_or(h.req("embedding_length") / n_head);
    const auto scaling = llama3_rope_scaling(factors, h.d("rope.freq_base").value_or(10000.0), head_dim);
    if (!scaling) {
      throw Error(ErrorCode::Unsupported, rope_freqs->file ? rope_freqs->file->path() : options.input, rope_freqs->offset_in_file(),
                  "tensor 'rope_freqs.weight'", "is not the rope_freqs of a llama3 rope_scaling ckpt can write back to config.json");
    }
    config["rope_scaling"] = *scaling;
  }
  if (longrope_long && longrope_short) {
    auto values = [](const SourceTensor* t) {
      std::vector<float> v(shape_numel(t->shape).value_or(0));
      decode_to_f32(t->dtype, t->data, v);
      return nlohmann::ordered_json(v);
    };
    config["rope_scaling"] = {{"long_factor", values(longrope_long)}, {"short_factor", values(longrope_short)}, {"type", "longrope"}};
    config["original_max_position_embeddings"] = h.u("rope.scaling.original_context_length").value_or(h.req("context_length"));
  }
  RewritePlan rewrite;
  rewrite.tensors = std::move(tensors);
  rewrite.safetensors_metadata = {{"format", "pt"}};
  rewrite.side_files.push_back([text = config.dump(2) + "\n"](const std::string& dir) {
    write_text_file((fs::path(dir) / "config.json").string(), text);
  });
  if (tokenizer) rewrite.side_files.push_back([&tokenizer](const std::string& dir) { write_hf_tokenizer(*tokenizer, dir); });
  report.outputs = write_rewrite(std::move(rewrite), RewriteTarget::hf_directory(options.output, options.split.max_bytes, options.force));
  for (const auto& out : report.outputs) report.bytes_out += fs::file_size(out);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace ckpt
