// Llama-3.x rope scaling: rope_scaling {rope_type: llama3} becomes the rope_freqs tensor (checked
// against a float64 evaluation of Meta's formula), comes back to config.json on --to hf, and runs the
// same from the HF directory and the GGUF; yarn / linear metadata as convert_hf_to_gguf writes it.
#include <gtest/gtest.h>

#include <cmath>

#include "convert/convert.h"
#include "formats/gguf.h"
#include "runtime/runtime.h"
#include "tests/support/lora_fixture.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

using namespace ckpt::test::lora;

// Meta's apply_scaling (llama-models), in double.
std::vector<double> meta_llama3_factors(double theta, uint64_t dim, double factor, double low, double high, double old_ctx) {
  std::vector<double> out;
  for (uint64_t i = 0; i < dim; i += 2) {
    const double freq = 1.0 / std::pow(theta, static_cast<double>(i) / static_cast<double>(dim));
    const double wavelen = 2 * M_PI / freq;
    if (wavelen < old_ctx / high) {
      out.push_back(1);
    } else if (wavelen > old_ctx / low) {
      out.push_back(factor);
    } else {
      const double smooth = (old_ctx / wavelen - low) / (high - low);
      out.push_back(1 / ((1 - smooth) / factor + smooth));
    }
  }
  return out;
}

const nlohmann::json kLlama3 = {{"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                                                  {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}}},
                                {"tie_word_embeddings", true}};

TEST(RopeScaling, Llama3BecomesRopeFreqsAndComesBack) {
  test::TempDir tmp;
  std::mt19937 rng(31);
  make_base(tmp.file("base"), DType::F32, rng, kLlama3);
  to_gguf(tmp.file("base"), tmp.file("m.gguf"), "f32");
  const GgufFile g = read_gguf(tmp.file("m.gguf"));
  ASSERT_EQ(g.tensors.front().name, "rope_freqs.weight") << "generated tensors come first, as in convert_hf_to_gguf";
  EXPECT_FALSE(g.find_tensor("output.weight")) << "Llama 3.2 ties its embeddings";
  const auto bytes = g.data(*g.find_tensor("rope_freqs.weight"));
  std::vector<float> got(bytes.size() / 4);
  std::memcpy(got.data(), bytes.data(), bytes.size());
  const auto want = meta_llama3_factors(10000.0, 16, 8, 1, 4, 64);
  ASSERT_EQ(got.size(), want.size());
  bool smooth = false, one = false, full = false;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-5 * want[i]) << i;
    one |= want[i] == 1;
    full |= want[i] == 8;
    smooth |= want[i] > 1 && want[i] < 8;
  }
  EXPECT_TRUE(one && full && smooth) << "the test values must cover all three branches";

  ConvertOptions back;
  back.input = tmp.file("m.gguf");
  back.output = tmp.file("back");
  back.to = "hf";
  convert(back);
  const auto config = nlohmann::json::parse(std::ifstream(tmp.file("back/config.json")));
  EXPECT_EQ(config["rope_scaling"]["rope_type"], "llama3");
  EXPECT_EQ(config["rope_scaling"]["original_max_position_embeddings"], 64);
  EXPECT_EQ(config["rope_scaling"]["factor"], 8.0);
  to_gguf(tmp.file("back"), tmp.file("again.gguf"), "f32");
  const GgufFile again = read_gguf(tmp.file("again.gguf"));
  const auto again_bytes = again.data(*again.find_tensor("rope_freqs.weight"));
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), again_bytes.begin(), again_bytes.end()));
}

TEST(RopeScaling, Llama3RunsTheSameFromHfAndGguf) {
  test::TempDir tmp;
  std::mt19937 rng(32);
  make_base(tmp.file("base"), DType::F32, rng, kLlama3);
  to_gguf(tmp.file("base"), tmp.file("m.gguf"), "f32");
  const runtime::Model hf = runtime::load_model(tmp.file("base")), gguf = runtime::load_model(tmp.file("m.gguf"));
  ASSERT_EQ(hf.rope_freq_factors.size(), 8u);
  EXPECT_EQ(hf.rope_freq_factors, gguf.rope_freq_factors);
  runtime::Forward a(hf, 64, 2, runtime::KvType::F32), b(gguf, 64, 2, runtime::KvType::F32);
  const std::vector<int32_t> tokens = {1, 5, 77, 300, 12, 9, 401, 3, 22, 250, 17, 88};
  const auto la = a.eval(tokens, true);
  const std::vector<float> first(la.begin(), la.end());
  const auto lb = b.eval(tokens, true);
  double diff = 0;
  for (size_t i = 0; i < first.size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(first[i] - lb[i])));
  EXPECT_LT(diff, 1e-4);
}

TEST(RopeScaling, YarnAndLinearWriteLlamaCppsKeys) {
  test::TempDir tmp;
  std::mt19937 rng(33);
  make_base(tmp.file("yarn"), DType::F32, rng,
            {{"rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}, {"beta_fast", 32.0}}}});
  to_gguf(tmp.file("yarn"), tmp.file("yarn.gguf"), "f32");
  const GgufFile y = read_gguf(tmp.file("yarn.gguf"));
  EXPECT_EQ(*y.find_kv("llama.rope.scaling.type")->value.as_string(), "yarn");
  EXPECT_EQ(y.find_kv("llama.rope.scaling.factor")->value.as_f64(), 4.0);
  EXPECT_EQ(y.find_kv("llama.rope.scaling.original_context_length")->value.as_u64(), 32768u);
  EXPECT_EQ(y.find_kv("llama.rope.scaling.yarn_beta_fast")->value.as_f64(), 32.0);
  EXPECT_FALSE(y.find_kv("llama.rope.scaling.yarn_beta_slow"));
  make_base(tmp.file("dyn"), DType::F32, rng, {{"rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}}}});
  to_gguf(tmp.file("dyn"), tmp.file("dyn.gguf"), "f32");
  EXPECT_FALSE(read_gguf(tmp.file("dyn.gguf")).find_kv("llama.rope.scaling.type")) << "dynamic writes nothing";
}

}  // namespace
}  // namespace ckpt

namespace ckpt {
namespace {

using namespace ckpt::test::lora;

// Phi-3-mini-128k's longrope: long/short factors become rope_factors_long/short, the cos/sin scale
// sqrt(1 + ln(ctx / original) / ln(original)) (hand-computed here) rope.scaling.attn_factor; --to hf
// restores rope_scaling; the HF directory runs like its GGUF with the short factors (context up to the
// original) and the long ones (past it), and the two differ.
TEST(RopeScaling, Phi3LongropeBecomesFactorTensorsAndRuns) {
  test::TempDir tmp;
  std::mt19937 rng(33);
  const std::string dir = tmp.file("phi3");
  Tensors llama = make_base(dir, DType::F32, rng);
  Tensors phi;
  for (auto& [name, m] : llama) {
    const auto fuse = [&](const std::vector<std::string>& parts, const std::string& to) {
      Mat f{{0, m.shape[1]}, {}};
      for (const auto& p : parts) {
        const Mat& x = llama.at(name.substr(0, name.rfind('.', name.size() - 8) + 1) + p + ".weight");
        f.shape[0] += x.shape[0];
        f.v.insert(f.v.end(), x.v.begin(), x.v.end());
      }
      phi[name.substr(0, name.rfind('.', name.size() - 8) + 1) + to + ".weight"] = f;
    };
    if (name.ends_with("q_proj.weight")) {
      fuse({"q_proj", "k_proj", "v_proj"}, "qkv_proj");
    } else if (name.ends_with("gate_proj.weight")) {
      fuse({"gate_proj", "up_proj"}, "gate_up_proj");
    } else if (!name.ends_with("k_proj.weight") && !name.ends_with("v_proj.weight") && !name.ends_with("up_proj.weight")) {
      phi[name] = m;
    }
  }
  for (auto& x : phi.at("model.layers.0.self_attn.qkv_proj.weight").v) x = round_to(DType::F32, x * 40);  // peaked attention
  fs::remove(dir + "/model.safetensors");
  write_tensors(dir + "/model.safetensors", phi, DType::F32);
  std::vector<double> long_f, short_f;
  for (int i = 0; i < 8; ++i) {
    long_f.push_back(1.0 + 0.75 * i);
    short_f.push_back(1.0 + 0.125 * i);
  }
  auto config = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
  config.merge_patch({{"architectures", {"Phi3ForCausalLM"}}, {"original_max_position_embeddings", 16}, {"max_position_embeddings", 256},
                      {"rope_scaling", {{"type", "longrope"}, {"long_factor", long_f}, {"short_factor", short_f}}}});
  std::ofstream(dir + "/config.json") << config.dump(2);
  to_gguf(dir, tmp.file("phi3.gguf"), "f32");
  const GgufFile g = read_gguf(tmp.file("phi3.gguf"));
  EXPECT_FLOAT_EQ(std::get<float>(g.find_kv("phi3.rope.scaling.attn_factor")->value.data),
                  static_cast<float>(std::sqrt(1 + std::log(256.0 / 16) / std::log(16.0))));
  EXPECT_EQ(g.tensors[0].name, "rope_factors_long.weight");
  std::vector<float> got(8);
  decode_to_f32(DType::F32, g.data(*g.find_tensor("rope_factors_short.weight")), got);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(got[i], static_cast<float>(short_f[i]));

  ConvertOptions back;
  back.input = tmp.file("phi3.gguf");
  back.output = tmp.file("back");
  back.to = "hf";
  convert(back);
  const auto restored = nlohmann::json::parse(std::ifstream(tmp.file("back/config.json")));
  EXPECT_EQ(restored["rope_scaling"]["type"], "longrope");
  EXPECT_EQ(restored["rope_scaling"]["long_factor"][3], long_f[3]);
  EXPECT_EQ(restored["original_max_position_embeddings"], 16);

  const runtime::Model hf = runtime::load_model(dir), gg = runtime::load_model(tmp.file("phi3.gguf"));
  const std::vector<int32_t> tokens = {1, 5, 77, 300, 12, 9, 401, 3, 22, 250, 17, 88};
  std::vector<std::vector<float>> by_ctx;
  for (const uint32_t ctx : {16u, 64u}) {
    runtime::Forward a(hf, ctx, 2, runtime::KvType::F32), b(gg, ctx, 2, runtime::KvType::F32);
    const auto la = a.eval(tokens, true);
    by_ctx.emplace_back(la.begin(), la.end());
    const auto lb = b.eval(tokens, true);
    for (size_t i = 0; i < lb.size(); ++i) ASSERT_NEAR(by_ctx.back()[i], lb[i], 1e-4) << ctx << " " << i;
  }
  double moved = 0;
  for (size_t i = 0; i < by_ctx[0].size(); ++i) moved = std::max(moved, static_cast<double>(std::fabs(by_ctx[0][i] - by_ctx[1][i])));
  EXPECT_GT(moved, 1e-3) << "long and short factors must give different logits";
}

}  // namespace
}  // namespace ckpt
