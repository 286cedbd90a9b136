// ckpt merge against a float64 reference written here, independent of the merge code: the formulas of
// PEFT's get_delta_weight / DoRA merge applied element by element in double, to random bases and
// adapters built in the test (and the real PEFT GPT-2 adapter in ../shared).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <algorithm>

#include <nlohmann/json.hpp>

#include "convert/convert.h"
#include "convert/merge.h"
#include "formats/permute.h"
#include "formats/byte_sink.h"
#include "formats/float_convert.h"
#include "formats/lora_adapter.h"
#include "formats/model_source.h"
#include "formats/safetensors.h"
#include "quantize/bnb4.h"
#include "quantize/bnb_layout.h"
#include "quantize/quantize.h"
#include "quantize/quantize_bnb.h"
#include "quantize/quantize_gguf.h"
#include "tests/support/lora_fixture.h"
#include "tests/support/test_support.h"
#include "tests/support/torch_bin_writer.h"

namespace ckpt {
namespace {

namespace fs = std::filesystem;
using namespace ckpt::test::lora;

// PEFT's scaling for one module, from the test's own reading of the config.
double ref_scale(const nlohmann::json& c, const std::string& module, uint64_t r) {
  double alpha = c.value("lora_alpha", 8.0);
  const nlohmann::json patterns = c.value("alpha_pattern", nlohmann::json::object());
  for (const auto& [p, v] : patterns.items()) {
    if (module.ends_with(p)) {
      alpha = v.get<double>();
      break;
    }
  }
  return c.value("use_rslora", false) ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

// delta in the module's [out, in] orientation: sum_k P[o][k] Q[k][i] * scale with P = B, Q = A, or for
// embeddings ([vocab, dim], delta = (B A)^T) P[v][k] = A[k][v], Q[k][j] = B[j][k].
std::vector<double> ref_delta(const AdapterModule& m, double scale) {
  const uint64_t r = m.a.rows();
  const uint64_t out = m.embedding ? m.a.cols() : m.b.rows(), in = m.embedding ? m.b.rows() : m.a.cols();
  auto p = [&](uint64_t o, uint64_t k) { return m.embedding ? m.a.v[k * out + o] : m.b.v[o * r + k]; };
  auto q = [&](uint64_t k, uint64_t i) { return m.embedding ? m.b.v[i * r + k] : m.a.v[k * in + i]; };
  std::vector<double> d(out * in);
  for (uint64_t o = 0; o < out; ++o) {
    for (uint64_t i = 0; i < in; ++i) {
      double s = 0;
      for (uint64_t k = 0; k < r; ++k) s += p(o, k) * q(k, i);
      d[o * in + i] = s * scale;
    }
  }
  return d;
}

// W + sum(weight * delta) (DoRA rescaled) in double; `transpose`: W is stored [in, out].
std::vector<double> ref_merge(const Mat& w, const std::vector<std::pair<const AdapterModule*, double>>& deltas, bool transpose = false) {
  const uint64_t out = transpose ? w.cols() : w.rows(), in = transpose ? w.rows() : w.cols();
  std::vector<double> m(out * in);
  for (uint64_t o = 0; o < out; ++o) {
    for (uint64_t i = 0; i < in; ++i) m[o * in + i] = transpose ? w.v[i * out + o] : w.v[o * in + i];
  }
  const AdapterModule* dora = nullptr;
  for (const auto& [mod, s] : deltas) {
    const auto d = ref_delta(*mod, s);
    for (size_t i = 0; i < m.size(); ++i) m[i] += d[i];
    if (mod->magnitude) dora = mod;
  }
  if (dora) {
    for (uint64_t o = 0; o < out; ++o) {
      double n = 0;
      for (uint64_t i = 0; i < in; ++i) n += m[o * in + i] * m[o * in + i];
      for (uint64_t i = 0; i < in; ++i) m[o * in + i] *= dora->magnitude->v[o] / std::sqrt(n);
    }
  }
  if (!transpose) return m;
  std::vector<double> t(m.size());
  for (uint64_t o = 0; o < out; ++o) {
    for (uint64_t i = 0; i < in; ++i) t[i * out + o] = m[o * in + i];
  }
  return t;
}

// f32 outputs: W + delta rounded once in f32 arithmetic, so a relative 2^-22 band around the double.
void expect_close(const std::vector<double>& want, const Mat& got, const std::string& what, double rel = 1e-6, double abs = 1e-7) {
  ASSERT_EQ(want.size(), got.v.size()) << what;
  size_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::fabs(want[i] - got.v[i]) > abs + rel * std::fabs(want[i])) {
      if (bad++ < 3) ADD_FAILURE() << what << "[" << i << "]: want " << want[i] << " got " << got.v[i];
    }
  }
  EXPECT_EQ(bad, 0u) << what;
}


const char* kProjections[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

// Every projection of both layers, with rank/alpha patterns and rsLoRA.
TestAdapter all_linear_adapter(const Tensors& base, std::mt19937& rng) {
  TestAdapter ad;
  ad.config = {{"r", 4}, {"lora_alpha", 8}, {"use_rslora", true}, {"rank_pattern", {{"v_proj", 2}}}, {"alpha_pattern", {{"o_proj", 3}}}};
  for (int l = 0; l < 2; ++l) {
    for (const char* p : kProjections) {
      const std::string m = "model.layers." + std::to_string(l) + "." + p;
      const Mat& w = base.at(m + ".weight");
      ad.modules[m] = linear_module(w.rows(), w.cols(), std::string(p).ends_with("v_proj") ? 2 : 4, rng);
    }
  }
  return ad;
}

void expect_merged(const Tensors& base, const Tensors& out, const std::vector<std::pair<const TestAdapter*, double>>& adapters, DType dtype = DType::F32) {
  for (const auto& [name, w] : base) {
    ASSERT_TRUE(out.count(name)) << name;
    std::vector<std::pair<const AdapterModule*, double>> deltas;
    const std::string module = name.substr(0, name.size() - std::string(".weight").size());
    for (const auto& [ad, weight] : adapters) {
      if (auto it = ad->modules.find(module); it != ad->modules.end()) {
        deltas.push_back({&it->second, weight * ref_scale(ad->config, module, it->second.a.rows())});
      }
    }
    if (deltas.empty()) {
      EXPECT_EQ(out.at(name).v, w.v) << name << " must pass through unchanged";
      continue;
    }
    auto want = ref_merge(w, deltas);
    if (dtype != DType::F32) {
      // One rounding to the output type: at most one ulp from the double's rounding.
      const auto& got = out.at(name).v;
      size_t bad = 0;
      // One ulp of the output type, plus f32's rounding of the delta (PEFT sums B A in f32 too) where
      // W and the delta nearly cancel.
      const int mantissa_bits = dtype == DType::BF16 ? 7 : 10;
      for (size_t i = 0; i < want.size(); ++i) {
        const double ulp = std::ldexp(1.0, std::ilogb(std::max(std::fabs(want[i]), std::fabs(got[i]))) - mantissa_bits);
        if (std::fabs(got[i] - want[i]) > ulp + 2e-8 && bad++ < 3) ADD_FAILURE() << name << "[" << i << "] want " << want[i] << " got " << got[i];
      }
      EXPECT_EQ(bad, 0u) << name;
    } else {
      expect_close(want, out.at(name), name);
    }
  }
}

MergeReport merge(const std::string& base, const std::vector<std::pair<std::string, double>>& adapters, const std::string& out,
                  const std::string& outtype = "", const std::string& into = "original") {
  MergeOptions o;
  o.base = base;
  for (const auto& [p, w] : adapters) o.adapters.push_back({p, w});
  o.output = out;
  o.outtype = outtype;
  o.merge_into = into;
  o.threads = 2;
  return merge_lora(o);
}

TEST(Merge, AllProjectionsWithPatternsAndRsloraMatchTheFloat64Reference) {
  test::TempDir tmp;
  std::mt19937 rng(1);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  const TestAdapter ad = all_linear_adapter(base, rng);
  write_adapter(tmp.file("ad"), ad);
  const auto report = merge(tmp.file("base"), {{tmp.file("ad"), 1.0}}, tmp.file("out"));
  EXPECT_EQ(report.tensors.size(), 14u);
  const Tensors out = read_tensors(tmp.file("out"));
  expect_merged(base, out, {{&ad, 1.0}});
  // rank_pattern/alpha_pattern/rsLoRA as PEFT reads them.
  const auto opened = open_lora_adapter(tmp.file("ad"));
  const auto* v = opened->find("model.layers.0.self_attn.v_proj");
  const auto* o = opened->find("model.layers.1.self_attn.o_proj");
  ASSERT_TRUE(v && o);
  EXPECT_DOUBLE_EQ(v->scale, 8 / std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(o->scale, 3 / 2.0);
  EXPECT_TRUE(fs::exists(tmp.file("out/tokenizer.json")));
}

TEST(Merge, Bf16BaseIsWithinOneUlpOfTheRoundedReference) {
  test::TempDir tmp;
  std::mt19937 rng(2);
  const Tensors base = make_base(tmp.file("base"), DType::BF16, rng);
  const TestAdapter ad = all_linear_adapter(base, rng);
  write_adapter(tmp.file("ad"), ad);
  merge(tmp.file("base"), {{tmp.file("ad"), 1.0}}, tmp.file("out"));
  const ModelSource out = open_model_source(tmp.file("out"));
  EXPECT_EQ(out.tensors.front().dtype, DType::BF16);
  expect_merged(base, read_tensors(tmp.file("out")), {{&ad, 1.0}}, DType::BF16);
}

TEST(Merge, WeightedAdaptersWithDifferentModulesAndRanksSum) {
  test::TempDir tmp;
  std::mt19937 rng(3);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  TestAdapter a1, a2;
  a1.config = {{"r", 4}, {"lora_alpha", 16}};
  a2.config = {{"r", 2}, {"lora_alpha", 2}};
  a1.modules["model.layers.0.self_attn.q_proj"] = linear_module(64, 64, 4, rng);
  a1.modules["model.layers.1.mlp.up_proj"] = linear_module(192, 64, 4, rng);
  a2.modules["model.layers.0.self_attn.q_proj"] = linear_module(64, 64, 2, rng);
  a2.modules["model.layers.0.mlp.down_proj"] = linear_module(64, 192, 2, rng);
  write_adapter(tmp.file("a1"), a1);
  write_adapter(tmp.file("a2"), a2);
  merge(tmp.file("base"), {{tmp.file("a1"), 0.7}, {tmp.file("a2"), -0.3}}, tmp.file("out"));
  expect_merged(base, read_tensors(tmp.file("out")), {{&a1, 0.7}, {&a2, -0.3}});
}

TEST(Merge, DoraRescalesRowsByMagnitudeOverTheNormAfterTheAdd) {
  test::TempDir tmp;
  std::mt19937 rng(4);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  TestAdapter ad;
  ad.config = {{"use_dora", true}, {"r", 4}, {"lora_alpha", 8}};
  for (const char* m : {"model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj"}) {
    const Mat& w = base.at(std::string(m) + ".weight");
    AdapterModule mod = linear_module(w.rows(), w.cols(), 4, rng);
    mod.magnitude = random_mat({w.rows()}, rng, 1.0);
    for (auto& x : mod.magnitude->v) x = std::fabs(x) + 0.1;
    ad.modules[m] = mod;
  }
  write_adapter(tmp.file("ad"), ad);
  merge(tmp.file("base"), {{tmp.file("ad"), 1.0}}, tmp.file("out"));
  expect_merged(base, read_tensors(tmp.file("out")), {{&ad, 1.0}});
}

TEST(Merge, EmbeddingLoraIsTransposedAndModulesToSaveResizeTheVocabulary) {
  test::TempDir tmp;
  std::mt19937 rng(5);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  TestAdapter ad;
  AdapterModule emb{random_mat({4, 512}, rng, 0.1), random_mat({64, 4}, rng, 0.1), std::nullopt, std::nullopt, true};
  ad.modules["model.embed_tokens"] = emb;
  write_adapter(tmp.file("ad"), ad);
  merge(tmp.file("base"), {{tmp.file("ad"), 1.0}}, tmp.file("out"));
  expect_merged(base, read_tensors(tmp.file("out")), {{&ad, 1.0}});

  TestAdapter resize;
  resize.config = {{"modules_to_save", {"lm_head", "embed_tokens"}}};
  resize.modules["model.layers.0.self_attn.q_proj"] = linear_module(64, 64, 4, rng);
  resize.full["lm_head.weight"] = random_mat({520, 64}, rng, 0.05);
  resize.full["model.embed_tokens.weight"] = random_mat({520, 64}, rng, 0.05);
  write_adapter(tmp.file("resize"), resize);
  const auto report = merge(tmp.file("base"), {{tmp.file("resize"), 1.0}}, tmp.file("out2"));
  EXPECT_EQ(report.vocab_to, 520u);
  const Tensors out = read_tensors(tmp.file("out2"));
  EXPECT_EQ(out.at("lm_head.weight").v, resize.full.at("lm_head.weight").v);
  EXPECT_EQ(out.at("model.embed_tokens.weight").shape, (std::vector<uint64_t>{520, 64}));
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(tmp.file("out2/config.json")))["vocab_size"], 520);
}

TEST(Merge, LmHeadLoraOnATiedModelUntiesIt) {
  test::TempDir tmp;
  std::mt19937 rng(6);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng, {{"tie_word_embeddings", true}});
  ASSERT_FALSE(base.count("lm_head.weight"));
  TestAdapter ad;
  ad.modules["lm_head"] = linear_module(512, 64, 4, rng);
  write_adapter(tmp.file("ad"), ad);
  const auto report = merge(tmp.file("base"), {{tmp.file("ad"), 1.0}}, tmp.file("out"));
  EXPECT_TRUE(report.untied);
  const Tensors out = read_tensors(tmp.file("out"));
  expect_close(ref_merge(base.at("model.embed_tokens.weight"), {{&ad.modules.at("lm_head"), 2.0}}), out.at("lm_head.weight"), "lm_head");
  EXPECT_EQ(out.at("model.embed_tokens.weight").v, base.at("model.embed_tokens.weight").v);
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(tmp.file("out/config.json")))["tie_word_embeddings"], false);
}

TEST(Merge, LoraBiasIsScaledIntoTheBaseBias) {
  test::TempDir tmp;
  std::mt19937 rng(7);
  Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  base["model.layers.0.self_attn.q_proj.bias"] = random_mat({64}, rng, 0.1);
  write_tensors(tmp.file("base/model.safetensors"), base, DType::F32);
  TestAdapter ad;
  ad.config = {{"lora_bias", true}};
  AdapterModule m = linear_module(64, 64, 4, rng);
  m.bias = random_mat({64}, rng, 0.1);
  ad.modules["model.layers.0.self_attn.q_proj"] = m;
  write_adapter(tmp.file("ad"), ad);
  merge(tmp.file("base"), {{tmp.file("ad"), 1.0}}, tmp.file("out"));
  const Tensors out = read_tensors(tmp.file("out"));
  std::vector<double> want = base.at("model.layers.0.self_attn.q_proj.bias").v;
  for (size_t i = 0; i < want.size(); ++i) want[i] += m.bias->v[i] * 2.0;
  expect_close(want, out.at("model.layers.0.self_attn.q_proj.bias"), "bias");
}

TEST(Merge, GgufBaseGetsTheDeltaOnPermutedQkRows) {
  test::TempDir tmp;
  std::mt19937 rng(8);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  to_gguf(tmp.file("base"), tmp.file("base.gguf"), "f32");
  const TestAdapter ad = all_linear_adapter(base, rng);
  write_adapter(tmp.file("ad"), ad);
  merge(tmp.file("base.gguf"), {{tmp.file("ad"), 1.0}}, tmp.file("out.gguf"));
  const Tensors out = read_tensors(tmp.file("out.gguf"));
  for (const char* proj : {"q_proj", "k_proj", "v_proj"}) {
    const std::string m = std::string("model.layers.1.self_attn.") + proj;
    const auto want_hf = ref_merge(base.at(m + ".weight"), {{&ad.modules.at(m), ref_scale(ad.config, m, ad.modules.at(m).a.rows())}});
    const uint64_t rows = base.at(m + ".weight").rows(), heads = std::string(proj) == "q_proj" ? 4 : 2;
    std::vector<double> want(want_hf.size());
    for (uint64_t g = 0; g < rows; ++g) {
      const uint64_t src = std::string(proj) == "v_proj" ? g : hf_row_for_gguf_row(g, rows, heads);
      std::copy_n(want_hf.begin() + static_cast<long>(src * 64), 64, want.begin() + static_cast<long>(g * 64));
    }
    const std::string gguf = std::string("blk.1.attn_") + proj[0] + ".weight";
    expect_close(want, out.at(gguf), gguf);
  }
}

TEST(Merge, QuantizedOutputIsByteIdenticalToQuantizingTheF32Merge) {
  test::TempDir tmp;
  std::mt19937 rng(9);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  to_gguf(tmp.file("base"), tmp.file("base.gguf"), "f32");
  const TestAdapter ad = all_linear_adapter(base, rng);
  write_adapter(tmp.file("ad"), ad);
  merge(tmp.file("base.gguf"), {{tmp.file("ad"), 1.0}}, tmp.file("f32.gguf"));
  for (const char* type : {"Q4_K_M", "Q8_0"}) {
    const auto report = merge(tmp.file("base.gguf"), {{tmp.file("ad"), 1.0}}, tmp.file(std::string(type) + ".gguf"), type);
    QuantizeOptions q;
    q.input = tmp.file("f32.gguf");
    q.output = tmp.file(std::string("requant-") + type + ".gguf");
    q.type = type;
    quantize_gguf_file(q);
    EXPECT_EQ(test::read_file_bytes(tmp.file(std::string(type) + ".gguf")), test::read_file_bytes(q.output)) << type;
    for (const auto& t : report.tensors) {
      EXPECT_GE(t.delta_correlation, -1.0) << t.name;
      EXPECT_GE(t.codes_changed, 0.0) << t.name;
    }
  }
}

// mflux's erasure: a delta far below Q4_0's step mostly vanishes on requantization. The report measures
// it (fraction of values changed, correlation with the intended delta), and --keep-delta writes Q8_0.
TEST(Merge, RequantizationThatErasesTheDeltaIsReportedAndKeepDeltaWritesQ8_0) {
  test::TempDir tmp;
  std::mt19937 rng(18);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  to_gguf(tmp.file("base"), tmp.file("base.gguf"), "f32");
  TestAdapter tiny, big;
  tiny.modules["model.layers.0.mlp.up_proj"] = linear_module(192, 64, 4, rng);
  for (auto& x : tiny.modules.begin()->second.b.v) x *= 0.01;  // |delta| ~ 1e-4, Q4_0's step ~ 1e-2
  big.modules["model.layers.0.mlp.up_proj"] = linear_module(192, 64, 4, rng);
  for (auto& x : big.modules.begin()->second.b.v) x *= 5;
  write_adapter(tmp.file("tiny"), tiny);
  write_adapter(tmp.file("big"), big);
  const auto erased = merge(tmp.file("base.gguf"), {{tmp.file("tiny"), 1.0}}, tmp.file("tiny-q4.gguf"), "Q4_0");
  ASSERT_EQ(erased.tensors.size(), 1u);
  EXPECT_LT(erased.tensors[0].delta_correlation, 0.5);
  EXPECT_TRUE(std::any_of(erased.warnings.begin(), erased.warnings.end(), [](const auto& w) { return w.find("--keep-delta") != std::string::npos; }));
  const auto kept = merge(tmp.file("base.gguf"), {{tmp.file("big"), 1.0}}, tmp.file("big-q4.gguf"), "Q4_0");
  EXPECT_GT(kept.tensors[0].delta_correlation, 0.9);
  EXPECT_GT(kept.tensors[0].codes_changed, erased.tensors[0].codes_changed);
  MergeOptions o;
  o.base = tmp.file("base.gguf");
  o.adapters = {{tmp.file("tiny"), 1.0}};
  o.output = tmp.file("tiny-keep.gguf");
  o.outtype = "Q4_0";
  o.keep_delta = true;
  const auto r = merge_lora(o);
  EXPECT_TRUE(r.tensors[0].kept_as_q8_0);
  EXPECT_EQ(open_model_source(o.output).find("blk.0.ffn_up.weight")->dtype, DType::Q8_0);
  EXPECT_EQ(open_model_source(o.output).find("blk.0.ffn_down.weight")->dtype, DType::Q4_0);
}

TEST(Merge, Q4KBaseIsDequantizedMergedAndRequantizedInQ4K) {
  test::TempDir tmp;
  std::mt19937 rng(20);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  to_gguf(tmp.file("base"), tmp.file("f32.gguf"), "f32");
  QuantizeOptions q;
  q.input = tmp.file("f32.gguf");
  q.output = tmp.file("q4k.gguf");
  q.type = "Q4_K_S";
  q.pure = true;
  quantize_gguf_file(q);
  TestAdapter ad;
  ad.modules["model.layers.0.mlp.down_proj"] = linear_module(64, 192, 4, rng);
  write_adapter(tmp.file("ad"), ad);
  merge(q.output, {{tmp.file("ad"), 1.0}}, tmp.file("out.gguf"));
  const ModelSource in = open_model_source(q.output), out = open_model_source(tmp.file("out.gguf"));
  // down_proj rows are 192 wide: not whole 256-blocks, so llama.cpp's fallback type is what is stored.
  const SourceTensor* b = in.find("blk.0.ffn_down.weight");
  const SourceTensor* m = out.find("blk.0.ffn_down.weight");
  ASSERT_TRUE(b && m);
  EXPECT_EQ(m->dtype, b->dtype);
  std::vector<float> deq(64 * 192);
  decode_to_f32(b->dtype, b->data, deq);
  const auto want = ref_merge(Mat{{64, 192}, std::vector<double>(deq.begin(), deq.end())}, {{&ad.modules.begin()->second, 2.0}});
  std::vector<float> wantf(want.begin(), want.end()), got(wantf.size()), want_q(wantf.size());
  std::vector<std::byte> requant(m->data.size());
  encode_from_f32(m->dtype, wantf, requant);
  decode_to_f32(m->dtype, requant, want_q);
  decode_to_f32(m->dtype, m->data, got);
  size_t differ = 0;
  for (size_t i = 0; i < got.size(); ++i) differ += got[i] != want_q[i];
  EXPECT_LE(differ, got.size() / 100) << "requantized merge vs the quantized f64 reference";
}

TEST(Merge, QuantizedBaseIsDequantizedMergedAndRequantized) {
  test::TempDir tmp;
  std::mt19937 rng(10);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  to_gguf(tmp.file("base"), tmp.file("base.gguf"), "q8_0");
  TestAdapter ad;
  ad.modules["model.layers.0.mlp.up_proj"] = linear_module(192, 64, 4, rng);
  write_adapter(tmp.file("ad"), ad);
  merge(tmp.file("base.gguf"), {{tmp.file("ad"), 1.0}}, tmp.file("out.gguf"));
  const ModelSource in = open_model_source(tmp.file("base.gguf")), out = open_model_source(tmp.file("out.gguf"));
  const SourceTensor* b = in.find("blk.0.ffn_up.weight");
  const SourceTensor* m = out.find("blk.0.ffn_up.weight");
  ASSERT_TRUE(b && m);
  EXPECT_EQ(m->dtype, DType::Q8_0);
  std::vector<float> deq(192 * 64);
  decode_to_f32(DType::Q8_0, b->data, deq);
  Mat w{{192, 64}, std::vector<double>(deq.begin(), deq.end())};
  const auto want = ref_merge(w, {{&ad.modules.at("model.layers.0.mlp.up_proj"), 2.0}});
  std::vector<float> wantf(want.begin(), want.end());
  std::vector<std::byte> q(m->data.size());
  quantize_q8_0_ref(wantf, q);
  std::vector<std::byte> got(m->data.begin(), m->data.end());
  size_t differ = 0;
  for (size_t i = 0; i < q.size(); ++i) differ += q[i] != got[i];
  EXPECT_LE(differ, q.size() / 1000) << "Q8_0 of the f64 reference merge";
  EXPECT_EQ(std::vector<std::byte>(out.find("blk.0.ffn_down.weight")->data.begin(), out.find("blk.0.ffn_down.weight")->data.end()),
            std::vector<std::byte>(in.find("blk.0.ffn_down.weight")->data.begin(), in.find("blk.0.ffn_down.weight")->data.end()));
}

TEST(Merge, Nf4RoundtripMergesIntoTheDequantizedQloraBase) {
  test::TempDir tmp;
  std::mt19937 rng(11);
  const Tensors base = make_base(tmp.file("base"), DType::BF16, rng);
  TestAdapter ad;
  const std::string m = "model.layers.0.mlp.gate_proj";
  ad.modules[m] = linear_module(192, 64, 4, rng);
  write_adapter(tmp.file("ad"), ad);
  const auto report = merge(tmp.file("base"), {{tmp.file("ad"), 1.0}}, tmp.file("out"), "f32", "nf4-roundtrip");
  // The QLoRA base: NF4 (blocks of 64, double-quantized absmax) dequantized to bf16.
  const Mat& w = base.at(m + ".weight");
  std::vector<float> wf(w.v.begin(), w.v.end());
  const Bnb4Quantized q = quantize_bnb4(wf, Bnb4Type::NF4, 64, true);
  std::vector<float> deq(wf.size());
  dequantize_bnb4(q.packed, q.absmax, bnb4_code(Bnb4Type::NF4), 64, deq);
  Mat w4{w.shape, {}};
  for (float v : deq) w4.v.push_back(bf16_to_f32(f32_to_bf16(v)));
  expect_close(ref_merge(w4, {{&ad.modules.at(m), 2.0}}), read_tensors(tmp.file("out")).at(m + ".weight"), "nf4-roundtrip");
  ASSERT_EQ(report.tensors.size(), 1u);
  double noise = 0, delta = 0;
  const auto d = ref_delta(ad.modules.at(m), 2.0);
  for (size_t i = 0; i < wf.size(); ++i) {
    noise += (w.v[i] - w4.v[i]) * (w.v[i] - w4.v[i]);
    delta += d[i] * d[i];
  }
  EXPECT_NEAR(report.tensors[0].nf4_noise_ratio, std::sqrt(noise / delta), 1e-3 * std::sqrt(noise / delta));
}

TEST(Merge, BitsandbytesBaseMergesIntoDequantW4) {
  test::TempDir tmp;
  std::mt19937 rng(12);
  make_base(tmp.file("base"), DType::BF16, rng);
  QuantizeOptions q;
  q.input = tmp.file("base");
  q.output = tmp.file("nf4");
  q.type = "nf4-dq";
  quantize_hf_to_bnb(q, *parse_bnb_type("nf4-dq"));
  const Tensors w4 = read_tensors(tmp.file("nf4"));  // the reader's dequantized weights
  TestAdapter ad;
  const std::string m = "model.layers.1.self_attn.o_proj";
  ad.modules[m] = linear_module(64, 64, 4, rng);
  write_adapter(tmp.file("ad"), ad);
  merge(tmp.file("nf4"), {{tmp.file("ad"), 1.0}}, tmp.file("out"), "f32");
  const Tensors out = read_tensors(tmp.file("out"));
  expect_close(ref_merge(w4.at(m + ".weight"), {{&ad.modules.at(m), 2.0}}), out.at(m + ".weight"), m);
  EXPECT_FALSE(nlohmann::json::parse(std::ifstream(tmp.file("out/config.json"))).contains("quantization_config"));

  // By default the merge is requantized to the base's own type (NF4 with double quantization), as PEFT
  // does: the stored codes are NF4-dq of the f64 reference merge (bar elements on a rounding boundary).
  const auto report = merge(tmp.file("nf4"), {{tmp.file("ad"), 1.0}}, tmp.file("out-nf4"));
  EXPECT_EQ(report.output_format, "bitsandbytes nf4-dq");
  const auto want = ref_merge(w4.at(m + ".weight"), {{&ad.modules.at(m), 2.0}});
  const std::vector<float> wantf(want.begin(), want.end());
  const Bnb4Quantized q4 = quantize_bnb4(wantf, Bnb4Type::NF4, 64, true);
  std::vector<float> deq(wantf.size());
  dequantize_bnb4(q4.packed, q4.absmax, bnb4_code(Bnb4Type::NF4), 64, deq);
  const Tensors requantized = read_tensors(tmp.file("out-nf4"));
  const auto& got = requantized.at(m + ".weight").v;
  size_t differ = 0;
  for (size_t i = 0; i < deq.size(); ++i) {
    const bool d = got[i] != deq[i];  // the reader folds NF4 to f32 code * absmax
    if (d && differ < 5) ADD_FAILURE() << i << ": got " << got[i] << " want " << deq[i] << " ref " << wantf[i];
    differ += d;
  }
  EXPECT_LE(differ, deq.size() / 200);
  EXPECT_TRUE(nlohmann::json::parse(std::ifstream(tmp.file("out-nf4/config.json"))).contains("quantization_config"));
}

// adapter_model.bin (torch pickle through the restricted unpickler) and a state_dict dump's key spelling
// (".lora_A.default.weight") merge exactly like adapter_model.safetensors.
TEST(Merge, BinAdaptersAndDefaultKeySpellingsMatchSafetensors) {
  test::TempDir tmp;
  std::mt19937 rng(19);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  TestAdapter ad;
  ad.modules["model.layers.1.mlp.gate_proj"] = linear_module(192, 64, 4, rng);
  write_adapter(tmp.file("st"), ad);
  std::vector<test::TorchTensorSpec> specs;
  for (const auto& [k, role] : {std::pair{".lora_A.default.weight", 'a'}, std::pair{".lora_B.default.weight", 'b'}}) {
    const Mat& mat = role == 'a' ? ad.modules.begin()->second.a : ad.modules.begin()->second.b;
    std::vector<float> f(mat.v.begin(), mat.v.end());
    std::vector<std::byte> bytes(f.size() * 4);
    std::memcpy(bytes.data(), f.data(), bytes.size());
    specs.push_back({"base_model.model.model.layers.1.mlp.gate_proj" + std::string(k), DType::F32, mat.shape, bytes});
  }
  fs::create_directories(tmp.file("bin"));
  test::write_file_bytes(tmp.file("bin/adapter_model.bin"), test::torch_save_bytes(specs));
  fs::copy_file(tmp.file("st/adapter_config.json"), tmp.file("bin/adapter_config.json"));
  merge(tmp.file("base"), {{tmp.file("bin"), 1.0}}, tmp.file("out"));
  expect_merged(base, read_tensors(tmp.file("out")), {{&ad, 1.0}});
}

TEST(Merge, EveryMismatchIsListedAndNothingIsWritten) {
  test::TempDir tmp;
  std::mt19937 rng(13);
  make_base(tmp.file("base"), DType::F32, rng);
  TestAdapter ad;
  ad.modules["model.layers.0.self_attn.q_proj"] = linear_module(32, 64, 4, rng);   // wrong out
  ad.modules["model.layers.7.self_attn.q_proj"] = linear_module(64, 64, 4, rng);   // no such layer
  ad.modules["model.layers.1.self_attn.v_proj"] = linear_module(32, 64, 4, rng);   // fits
  write_adapter(tmp.file("ad"), ad);
  try {
    merge(tmp.file("base"), {{tmp.file("ad"), 1.0}}, tmp.file("out"));
    FAIL() << "merged an adapter that does not fit";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadShape);
    EXPECT_NE(std::string(e.what()).find("layers.0.self_attn.q_proj"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("layers.7.self_attn.q_proj"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(tmp.file("out")));
  EXPECT_EQ(adapter_mismatches(tmp.file("ad"), tmp.file("base")).size(), 2u);
}

TEST(Merge, NonFiniteResultNamesTheTensor) {
  test::TempDir tmp;
  std::mt19937 rng(14);
  make_base(tmp.file("base"), DType::F32, rng);
  TestAdapter ad;
  AdapterModule m = linear_module(64, 64, 4, rng);
  m.b.v[5] = std::numeric_limits<double>::infinity();
  ad.modules["model.layers.0.self_attn.q_proj"] = m;
  write_adapter(tmp.file("ad"), ad);
  try {
    merge(tmp.file("base"), {{tmp.file("ad"), 1.0}}, tmp.file("out"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.field().find("q_proj"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(tmp.file("out")));
}

TEST(Merge, GgufLoraCarriesPeftScalesAndPermutationAndComesBack) {
  test::TempDir tmp;
  std::mt19937 rng(16);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  to_gguf(tmp.file("base"), tmp.file("base.gguf"), "f32");
  const TestAdapter ad = all_linear_adapter(base, rng);  // rsLoRA + patterns: scales differ per module
  write_adapter(tmp.file("ad"), ad);
  convert(adapter_convert(tmp.file("ad"), tmp.file("base"), tmp.file("ad.gguf")));
  const auto gguf = open_lora_adapter(tmp.file("ad.gguf"));
  EXPECT_TRUE(gguf->gguf);
  EXPECT_EQ(gguf->info.lora_alpha, 0.0) << "non-uniform scales are folded into lora_b";
  ASSERT_EQ(gguf->modules.size(), 14u);
  const auto* q = gguf->find("blk.0.attn_q");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->a->shape, (std::vector<uint64_t>{4, 64}));  // ne {in, r}
  // Merging the GGUF LoRA into the GGUF base equals merging the PEFT adapter into it.
  merge(tmp.file("base.gguf"), {{tmp.file("ad"), 1.0}}, tmp.file("peft.gguf"));
  merge(tmp.file("base.gguf"), {{tmp.file("ad.gguf"), 1.0}}, tmp.file("lora.gguf"));
  const Tensors a = read_tensors(tmp.file("peft.gguf")), b = read_tensors(tmp.file("lora.gguf"));
  for (const auto& [name, m] : a) expect_close(m.v, b.at(name), name, 1e-6, 1e-7);
  // ... and into the HF base (the permutation undone).
  merge(tmp.file("base"), {{tmp.file("ad.gguf"), 1.0}}, tmp.file("hf-from-lora"));
  expect_merged(base, read_tensors(tmp.file("hf-from-lora")), {{&ad, 1.0}});
  // Back to PEFT: the same merge.
  convert(adapter_convert(tmp.file("ad.gguf"), tmp.file("base.gguf"), tmp.file("back"), "peft"));
  EXPECT_TRUE(fs::exists(tmp.file("back/adapter_config.json")));
  merge(tmp.file("base"), {{tmp.file("back"), 1.0}}, tmp.file("hf-from-back"));
  expect_merged(base, read_tensors(tmp.file("hf-from-back")), {{&ad, 1.0}});
}

TEST(Merge, UniformAdapterKeepsItsAlphaAndDoraIsRefusedForGguf) {
  test::TempDir tmp;
  std::mt19937 rng(17);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  TestAdapter ad;
  ad.config = {{"r", 4}, {"lora_alpha", 16}};
  ad.modules["model.layers.0.self_attn.k_proj"] = linear_module(32, 64, 4, rng);
  write_adapter(tmp.file("ad"), ad);
  convert(adapter_convert(tmp.file("ad"), tmp.file("base"), tmp.file("ad.gguf")));
  EXPECT_EQ(open_lora_adapter(tmp.file("ad.gguf"))->info.lora_alpha, 16.0);
  TestAdapter dora = ad;
  dora.config["use_dora"] = true;
  dora.modules.begin()->second.magnitude = random_mat({32}, rng, 1.0);
  write_adapter(tmp.file("dora"), dora);
  try {
    convert(adapter_convert(tmp.file("dora"), tmp.file("base"), tmp.file("dora.gguf")));
    FAIL() << "DoRA has no GGUF LoRA form";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
  }
  EXPECT_FALSE(fs::exists(tmp.file("dora.gguf")));
}

TEST(Merge, PeftKeySpellingsMapToBaseNames) {
  EXPECT_EQ(peft_key_to_base_name("base_model.model.lm_head.modules_to_save.default.weight"), "lm_head.weight");
  EXPECT_EQ(peft_key_to_base_name("base_model.model.model.layers.0.self_attn.q_proj.base_layer.bias"), "model.layers.0.self_attn.q_proj.bias");
  EXPECT_EQ(parse_adapter_spec("dir/a:0.7").weight, 0.7);
  EXPECT_EQ(parse_adapter_spec("dir/a:-0.3").path, "dir/a");
  EXPECT_EQ(parse_adapter_spec("dir/a").weight, 1.0);
}

// The real PEFT GPT-2 adapter (Conv1D, fan_in_fan_out) into a random base of GPT-2's shapes.
TEST(Merge, RealPeftGpt2AdapterMatchesTheReference) {
  CKPT_SHARED_OR_SKIP(adapter, "peft-gpt2-lora-tigrinya");
  test::TempDir tmp;
  std::mt19937 rng(15);
  const auto opened = open_lora_adapter(adapter);
  ASSERT_EQ(opened->modules.size(), 36u);
  Tensors base;
  for (const auto& m : opened->modules) base[m.module + ".weight"] = random_mat({m.in_features(), m.out_features()}, rng, 0.02, DType::F16);
  fs::create_directories(tmp.file("base"));
  write_tensors(tmp.file("base/model.safetensors"), base, DType::F16);
  std::ofstream(tmp.file("base/config.json")) << nlohmann::json{{"architectures", {"GPT2LMHeadModel"}}, {"n_embd", 768}, {"n_head", 12}, {"n_layer", 12}}.dump();
  merge(tmp.file("base"), {{adapter, 1.0}}, tmp.file("out"), "f32");
  const Tensors out = read_tensors(tmp.file("out"));
  const Tensors raw = read_tensors(adapter);
  for (const char* module : {"transformer.h.0.attn.c_attn", "transformer.h.11.mlp.c_proj"}) {
    AdapterModule m{raw.at("base_model.model." + std::string(module) + ".lora_A.weight"), raw.at("base_model.model." + std::string(module) + ".lora_B.weight"),
                    std::nullopt, std::nullopt, false};
    const auto want = ref_merge(base.at(std::string(module) + ".weight"), {{&m, 32.0 / 8}}, /*transpose=*/true);
    expect_close(want, out.at(std::string(module) + ".weight"), module);
  }
}

}  // namespace
}  // namespace ckpt
