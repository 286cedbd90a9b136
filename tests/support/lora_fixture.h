// Random bases (the sample's layout) and PEFT adapters written by the tests, for the merge and run
// --lora tests. Values are exactly representable in the stored dtype, so references can use them as is.
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "convert/convert.h"
#include "formats/byte_sink.h"
#include "formats/float_convert.h"
#include "formats/model_source.h"
#include "formats/safetensors.h"
#include "quantize/bnb_layout.h"
#include "quantize/quantize.h"

namespace ckpt::test::lora {

namespace fs = std::filesystem;
inline const std::string kSample = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";

struct Mat {
  std::vector<uint64_t> shape;
  std::vector<double> v;  // exactly representable in the stored dtype
  uint64_t rows() const { return shape[0]; }
  uint64_t cols() const { return shape.size() > 1 ? shape[1] : 1; }
};

using Tensors = std::map<std::string, Mat>;

inline double round_to(DType t, double x) {
  const float f = static_cast<float>(x);
  if (t == DType::BF16) return bf16_to_f32(f32_to_bf16(f));
  if (t == DType::F16) return f16_to_f32(f32_to_f16(f));
  return f;
}

inline Mat random_mat(std::vector<uint64_t> shape, std::mt19937& rng, double scale, DType t = DType::F32) {
  Mat m{std::move(shape), {}};
  std::normal_distribution<double> n(0, scale);
  m.v.resize(shape_numel(m.shape).value());
  for (auto& x : m.v) x = round_to(t, n(rng));
  return m;
}

inline void write_tensors(const std::string& path, const Tensors& ts, DType t) {
  std::vector<TensorToWrite> out;
  for (const auto& [name, m] : ts) {
    std::vector<float> f(m.v.begin(), m.v.end());
    auto bytes = std::make_shared<std::vector<std::byte>>(*dtype_bytes_for(t, f.size()));
    encode_from_f32(t, f, *bytes);
    out.push_back({name, t, m.shape, [bytes](ByteSink& s) { s.write(*bytes); }});
  }
  write_safetensors(path, std::move(out), {{"format", "pt"}});
}

inline Tensors read_tensors(const std::string& path) {
  ModelSource src = open_model_source(path);
  fold_bnb_weights(src);  // bitsandbytes directories: the dequantized weights
  Tensors out;
  for (const auto& t : src.tensors) {
    std::vector<float> f(shape_numel(t.shape).value());
    if (t.decode) {
      f = t.decode();
    } else {
      decode_to_f32(t.dtype, t.data, f);
    }
    out[t.name] = Mat{t.shape, std::vector<double>(f.begin(), f.end())};
  }
  return out;
}

// The sample's layout (names, shapes, config, tokenizer) with random weights of dtype `t`.
inline Tensors make_base(const std::string& dir, DType t, std::mt19937& rng, const nlohmann::json& config_patch = {}) {
  fs::create_directories(dir);
  Tensors ts;
  for (const auto& s : open_model_source(kSample).tensors) ts[s.name] = random_mat(s.shape, rng, 0.05, t);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}) fs::copy_file(fs::path(kSample) / f, fs::path(dir) / f);
  auto config = nlohmann::json::parse(std::ifstream(fs::path(kSample) / "config.json"));
  if (!config_patch.is_null()) config.merge_patch(config_patch);
  if (config.value("tie_word_embeddings", false)) ts.erase("lm_head.weight");
  std::ofstream(fs::path(dir) / "config.json") << config.dump(2);
  write_tensors(dir + "/model.safetensors", ts, t);
  return ts;
}

struct AdapterModule {
  Mat a, b;  // [r, in], [out, r] (embedding: [r, vocab], [dim, r])
  std::optional<Mat> magnitude, bias;
  bool embedding = false;
};

struct TestAdapter {
  nlohmann::json config = nlohmann::json::object();
  std::map<std::string, AdapterModule> modules;  // HF module names
  Tensors full;                                  // base names (modules_to_save)
};

inline void write_adapter(const std::string& dir, const TestAdapter& ad, DType t = DType::F32) {
  fs::create_directories(dir);
  Tensors ts;
  for (const auto& [m, mod] : ad.modules) {
    const std::string k = "base_model.model." + m;
    ts[k + (mod.embedding ? ".lora_embedding_A" : ".lora_A.weight")] = mod.a;
    ts[k + (mod.embedding ? ".lora_embedding_B" : ".lora_B.weight")] = mod.b;
    if (mod.magnitude) ts[k + ".lora_magnitude_vector"] = *mod.magnitude;
    if (mod.bias) ts[k + ".lora_B.bias"] = *mod.bias;
  }
  for (const auto& [name, m] : ad.full) ts["base_model.model." + name] = m;
  write_tensors(dir + "/adapter_model.safetensors", ts, t);
  nlohmann::json c = {{"peft_type", "LORA"}, {"r", 4}, {"lora_alpha", 8}, {"target_modules", {"q_proj"}}};
  c.merge_patch(ad.config);
  std::ofstream(dir + "/adapter_config.json") << c.dump(2);
}

inline AdapterModule linear_module(uint64_t out, uint64_t in, uint64_t r, std::mt19937& rng) {
  return {random_mat({r, in}, rng, 0.1), random_mat({out, r}, rng, 0.1), std::nullopt, std::nullopt, false};
}

// `ckpt convert DIR -o OUT --outtype TYPE`.
inline void to_gguf(const std::string& dir, const std::string& out, const std::string& outtype) {
  ConvertOptions c;
  c.input = dir;
  c.output = out;
  c.outtype = outtype;
  convert(c);
}

// `ckpt convert ADAPTER --base BASE -o OUT --to TO --outtype f32`, as options.
inline ConvertOptions adapter_convert(const std::string& in, const std::string& base, const std::string& out, const std::string& to = "gguf") {
  ConvertOptions c;
  c.input = in;
  c.base = base;
  c.output = out;
  c.to = to;
  c.outtype = "f32";
  return c;
}

}  // namespace ckpt::test::lora
