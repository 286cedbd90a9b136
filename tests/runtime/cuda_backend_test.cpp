// The CUDA backend against the CPU and the float64 reference: random models of every architecture
// family and weight type (decode through the dequantize-matvec kernels, prompt batches through the
// f16 tensor-core path), the sample and its bitsandbytes NF4/FP4 forms, LoRA at run time, and
// llama.cpp's greedy ids for stories260K. Skips, saying why, without a CUDA device; the device
// selection tests run everywhere.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/runtime.h"
#include "runtime/cuda/cuda_matvec.h"
#include "tests/runtime/random_model.h"
#include "tests/support/sample_models.h"
#include "tests/support/test_support.h"

namespace ckpt::runtime {
namespace {

#define CKPT_CUDA_OR_SKIP()                                                                  \
  do {                                                                                       \
    std::string why_;                                                                        \
    if (!cuda::device_available(&why_)) GTEST_SKIP() << "CUDA backend not checked: " << why_; \
  } while (0)

template <typename A, typename B>
double relative_rms(const A& got, const B& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (double(got[i]) - double(want[i])) * (double(got[i]) - double(want[i]));
    den += double(want[i]) * double(want[i]);
  }
  return std::sqrt(num / den);
}

Forward on_cuda(const Model& m, uint32_t n_ctx, KvType kv = KvType::F32) {
  return Forward(m, n_ctx, make_backend(Device::Cuda, m, 1), kv);
}

// Logits of every position: a batch (the tensor-core path for > kMatvecMaxTokens tokens), and token by
// token (the matvec path).
struct BothPaths {
  std::vector<float> batch, decode;
};
BothPaths both_paths(const Model& m, const std::vector<int32_t>& tokens, bool cuda) {
  BothPaths r;
  auto make = [&] { return cuda ? on_cuda(m, 64) : Forward(m, 64, 2, KvType::F32); };
  Forward fb = make();
  const auto all = fb.eval(tokens, true);
  r.batch.assign(all.begin(), all.end());
  Forward fd = make();
  for (int32_t t : tokens) {
    const auto l = fd.eval(std::span<const int32_t>(&t, 1));
    r.decode.insert(r.decode.end(), l.begin(), l.end());
  }
  return r;
}

class CudaRandomModel : public ::testing::TestWithParam<std::tuple<std::string, DType>> {};

TEST_P(CudaRandomModel, LogitsEqualTheFloat64ReferenceOnBothPaths) {
  CKPT_CUDA_OR_SKIP();
  const auto& [arch, type] = GetParam();
  test::TempDir dir;
  test::RandomModelSpec spec;
  spec.arch = arch;
  spec.weight_type = type;
  spec.seed = test::test_seed();
  spec.tied_output = arch == "gpt2";
  if (arch == "gpt2") spec.n_head_kv = spec.n_head;
  const auto rm = test::write_random_model(spec, dir.file("m.gguf"));
  const Model model = load_model(dir.file("m.gguf"));
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 40; ++i) tokens.push_back((i * 97 + 13) % static_cast<int32_t>(spec.n_vocab));
  const auto ref = test::reference_logits(spec, rm.stored, tokens);
  const auto got = both_paths(model, tokens, true);
  // Decode: f32 activations against the exactly decoded weights, f32 sums in another order.
  EXPECT_LT(relative_rms(got.decode, ref), 1e-4) << arch << " " << dtype_name(type) << " decode";
  // Batches: f32 weights through cuBLAS's f32 GEMM; the others as f16 tiles against f16 activations
  // (2^-11 relative rounding of each side, carried through two layers).
  EXPECT_LT(relative_rms(got.batch, ref), type == DType::F32 ? 1e-4 : 5e-3) << arch << " " << dtype_name(type) << " batch";
}

std::vector<std::tuple<std::string, DType>> cuda_cases() {
  std::vector<std::tuple<std::string, DType>> cases;
  for (const char* arch : {"llama", "qwen2", "gpt2"}) {
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL,
                    DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
      cases.emplace_back(arch, t);
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Types, CudaRandomModel, ::testing::ValuesIn(cuda_cases()), [](const auto& info) {
  return std::get<0>(info.param) + "_" + std::string(dtype_name(std::get<1>(info.param)));
});

TEST(CudaBackend, SampleAndItsBitsandbytesFormsEqualTheCpu) {
  CKPT_CUDA_OR_SKIP();
  test::TempDir dir;
  for (const auto& path : test::sample_and_bnb4_forms(dir)) {
    const Model model = load_model(path);
    std::vector<int32_t> tokens;
    for (int32_t i = 0; i < 24; ++i) tokens.push_back((i * 31 + 5) % static_cast<int32_t>(model.hp.n_vocab));
    const auto cpu = both_paths(model, tokens, false), gpu = both_paths(model, tokens, true);
    EXPECT_LT(relative_rms(gpu.decode, cpu.decode), 1e-3) << path;  // the CPU's activations are Q8 for block types
    EXPECT_LT(relative_rms(gpu.batch, cpu.batch), 5e-3) << path;
  }
}

TEST(CudaBackend, StoriesGreedyIdsEqualLlamaCpp) {
  CKPT_CUDA_OR_SKIP();
  CKPT_SHARED_OR_SKIP(model_path, "karpathy-stories260K/stories260K-converted-by-llama.cpp-c392e50.gguf");
  const Model model = load_model(model_path);
  const Tokenizer tok(model.vocab, model_path);
  const auto prompt = tok.encode("Once upon a time", true, true);
  GenerateOptions g;
  g.max_new_tokens = 20;
  g.sampling.temperature = 0;
  Forward cpu(model, 128, 2, KvType::F16);
  Forward gpu = on_cuda(model, 128, KvType::F16);
  EXPECT_EQ(generate_tokens(gpu, tok, prompt, g, nullptr).tokens, generate_tokens(cpu, tok, prompt, g, nullptr).tokens);
}

TEST(CudaBackend, RunTimeLoraEqualsTheCpu) {
  CKPT_CUDA_OR_SKIP();
  Model model = load_model(test::kSampleDir);
  attach_lora(model, {{std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama-lora", 1.0}});
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 12; ++i) tokens.push_back((i * 7 + 3) % static_cast<int32_t>(model.hp.n_vocab));
  const auto cpu = both_paths(model, tokens, false), gpu = both_paths(model, tokens, true);
  EXPECT_LT(relative_rms(gpu.decode, cpu.decode), 1e-4);
  EXPECT_LT(relative_rms(gpu.batch, cpu.batch), 5e-3);
}

// Everywhere: what --device does without a GPU (or with one).
TEST(DeviceSelection, ParsesNamesAndRefusesOthers) {
  EXPECT_EQ(parse_device("cpu"), Device::Cpu);
  EXPECT_EQ(parse_device("cuda"), Device::Cuda);
  EXPECT_EQ(parse_device("auto"), Device::Auto);
  test::expect_error(ErrorCode::InvalidArgument, [] { parse_device("gpu"); });
}

TEST(DeviceSelection, AutoFallsBackToTheCpuSayingWhy) {
  test::TempDir dir;
  test::RandomModelSpec spec;
  test::write_random_model(spec, dir.file("m.gguf"));
  const Model model = load_model(dir.file("m.gguf"));
  std::string note;
  auto backend = make_backend(Device::Auto, model, 1, &note);
  std::string why;
  if (cuda::device_available(&why)) {
    EXPECT_FALSE(backend->is_cpu()) << note;
    return;
  }
  EXPECT_TRUE(backend->is_cpu());
  EXPECT_EQ(note, why);
  EXPECT_NE(backend->name().find("cpu"), std::string::npos);
  // --device cuda insists: an error naming why, never a silent CPU run.
  test::expect_error(ErrorCode::Unsupported, [&] { make_backend(Device::Cuda, model, 1); });
}

}  // namespace
}  // namespace ckpt::runtime
