// The trainer's libtorch forward against independent references: the float64 forward of
// tests/runtime/random_model.cpp (no code shared with runtime/) on the weights each GGUF type stores,
// and the runtime's Forward for every architecture it runs (HF directories), bitsandbytes NF4/FP4 and
// the shipped bf16 sample; packed rows equal separate ones.
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/support/sample_models.h"
#include "tests/runtime/random_model.h"
#include "tests/support/test_support.h"
#include "tests/trainer/trainer_test_support.h"

namespace ckpt::runtime {
namespace {

std::vector<int32_t> some_tokens(size_t n, uint32_t vocab) {
  std::vector<int32_t> t;
  for (size_t i = 0; i < n; ++i) t.push_back(static_cast<int32_t>((i * 97 + 13) % vocab));
  return t;
}

std::vector<float> torch_logits(const Model& m, const std::vector<int32_t>& ids, torch::Dtype dtype = torch::kFloat32) {
  TorchModel tm(m, static_cast<uint32_t>(ids.size()), dtype);
  torch::NoGradGuard no_grad;
  const auto seq = test::whole_sequence(ids);
  return test::to_vector(tm.logits(make_batch({&seq})));
}

struct GgufCase {
  std::string arch;
  DType dtype;
};

class TorchForwardGguf : public ::testing::TestWithParam<GgufCase> {};

// Dequantized weights times f32 activations: only f32 rounding away from the float64 forward on the
// same stored weights, for every type (the runtime's 8-bit activations are not involved).
TEST_P(TorchForwardGguf, EqualsTheFloat64ForwardOnTheStoredWeights) {
  const auto& c = GetParam();
  test::TempDir dir;
  test::RandomModelSpec spec;
  spec.arch = c.arch;
  spec.weight_type = c.dtype;
  spec.tied_output = c.arch == "gpt2";
  if (c.arch == "gpt2") spec.n_head_kv = spec.n_head;
  const auto rm = test::write_random_model(spec, dir.file("m.gguf"));
  const Model model = load_model(dir.file("m.gguf"));
  const auto tokens = some_tokens(24, spec.n_vocab);
  const auto got = torch_logits(model, tokens);
  const double e = test::relative_rms(got, test::reference_logits(spec, rm.stored, tokens));
  EXPECT_LT(e, 2e-5) << c.arch << " " << dtype_name(c.dtype);
  // And the runtime within its activation-quantization bound (tests/runtime/forward_test.cpp).
  const auto rt = test::runtime_logits(model, tokens);
  const std::vector<double> rt64(rt.begin(), rt.end());
  EXPECT_LT(test::relative_rms(got, rt64), dtype_info(c.dtype).block_elems > 1 ? 4e-2 : 2e-5);
}

std::vector<GgufCase> gguf_cases() {
  std::vector<GgufCase> out;
  for (const char* arch : {"llama", "qwen2", "gpt2"}) {
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q6_K, DType::Q5_K,
                    DType::Q4_K, DType::IQ4_NL}) {
      out.push_back({arch, t});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Types, TorchForwardGguf, ::testing::ValuesIn(gguf_cases()),
                         [](const auto& info) { return info.param.arch + "_" + std::string(dtype_name(info.param.dtype)); });

class TorchForwardArch : public ::testing::TestWithParam<std::string> {};

// Every architecture with a forward pass, as an HF directory the runtime loads: the same logits as
// the runtime's Forward (f32 weights, f32 KV cache: only summation order differs).
TEST_P(TorchForwardArch, EqualsTheRuntime) {
  test::TempDir dir;
  const std::string arch = GetParam(), out = dir.file(arch);
  const std::string cmd = std::string(CKPT_MAKE_TEST_CHECKPOINT) + " " + arch + " " + out + " " + CKPT_SOURCE_DIR + "/samples/tiny-llama 64 128 2 4 2 512";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const Model model = load_model(out);
  const auto tokens = some_tokens(20, model.hp.n_vocab);  // longer than Gemma's window of 6
  const auto got = torch_logits(model, tokens);
  const auto rt = test::runtime_logits(model, tokens);
  const std::vector<double> rt64(rt.begin(), rt.end());
  EXPECT_LT(test::relative_rms(got, rt64), 2e-5) << arch;
}

INSTANTIATE_TEST_SUITE_P(Archs, TorchForwardArch,
                         ::testing::Values("llama", "llama3", "qwen2", "qwen2-yarn", "qwen3", "mistral-nemo", "phi3", "phi3-longrope", "gemma2", "gemma3",
                                           "exaone", "exaone4", "gptneox", "gptneox-serial"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) ch = ch == '-' ? '_' : ch;
                           return n;
                         });

TEST(TorchForward, SampleAndItsBitsandbytesFormsEqualTheRuntime) {
  test::TempDir dir;
  for (const auto& path : test::sample_and_bnb4_forms(dir)) {
    const Model model = load_model(path);
    const auto tokens = some_tokens(16, model.hp.n_vocab);
    const auto got = torch_logits(model, tokens);
    const auto rt = test::runtime_logits(model, tokens);
    EXPECT_LT(test::relative_rms(got, {rt.begin(), rt.end()}), 2e-5) << path;
  }
}

TEST(TorchForward, PackedRowsEqualSeparateOnes) {
  const Model model = load_model(std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama");
  TokenizedExample a{1, {1, 40, 41, 42, 43, 2}, 3, 6}, b{2, {1, 50, 51, 52, 2}, 2, 5};
  const auto packed = build_sequences({a, b}, {0, 1}, 64, /*pack=*/true, false);
  ASSERT_EQ(packed.size(), 1u);
  EXPECT_EQ(packed[0].positions, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4}));
  const auto separate = build_sequences({a, b}, {0, 1}, 64, /*pack=*/false, false);
  ASSERT_EQ(separate.size(), 2u);
  TorchModel tm(model, 64, torch::kFloat32);
  torch::NoGradGuard no_grad;
  const auto p = test::to_vector(tm.logits(make_batch({&packed[0]})));
  const auto sa = test::to_vector(tm.logits(make_batch({&separate[0]})));
  const auto sb = test::to_vector(tm.logits(make_batch({&separate[1]})));
  std::vector<float> joined = sa;
  joined.insert(joined.end(), sb.begin(), sb.end());
  ASSERT_EQ(p.size(), joined.size());
  double worst = 0;
  for (size_t i = 0; i < p.size(); ++i) worst = std::max(worst, double{std::abs(p[i] - joined[i])});
  EXPECT_LT(worst, 1e-5);
  // And the loss sums agree: labels never cross from one record into the next.
  EXPECT_NEAR(tm.loss_sum(make_batch({&packed[0]})).item<double>(),
              tm.loss_sum(make_batch({&separate[0]})).item<double>() + tm.loss_sum(make_batch({&separate[1]})).item<double>(), 1e-4);
  // A right-padded batch of both equals them too.
  const auto both = test::to_vector(tm.logits(make_batch({&separate[0], &separate[1]})));
  const size_t v = model.hp.n_vocab;
  for (size_t t = 0; t < 5; ++t) {
    for (size_t j = 0; j < v; ++j) ASSERT_NEAR(both[(6 + t) * v + j], sb[t * v + j], 1e-5);
  }
}

}  // namespace
}  // namespace ckpt::runtime
