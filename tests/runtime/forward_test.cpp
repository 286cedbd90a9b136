// The forward pass against independent references: llama.cpp's greedy ids and llama2.c run.c's
// text for the real stories260K model, and a float64 forward (random_model.cpp) for every weight type.
#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>

#include "runtime/runtime.h"
#include "tests/runtime/random_model.h"
#include "tests/support/test_support.h"

namespace ckpt::runtime {
namespace {

std::vector<int32_t> ids_after(const std::string& path, const std::string& label) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(label, 0) != 0) continue;
    std::vector<int32_t> ids;
    const std::regex number("-?[0-9]+");
    for (auto it = std::sregex_iterator(line.begin() + static_cast<ptrdiff_t>(label.size()), line.end(), number);
         it != std::sregex_iterator(); ++it) {
      ids.push_back(std::stoi(it->str()));
    }
    return ids;
  }
  return {};
}

class KernelChoiceScope {
 public:
  explicit KernelChoiceScope(KernelChoice c) : saved_(kernel_choice()) { set_kernel_choice(c); }
  ~KernelChoiceScope() { set_kernel_choice(saved_); }

 private:
  KernelChoice saved_;
};

class Stories : public ::testing::TestWithParam<KernelChoice> {};

TEST_P(Stories, GreedyIdsEqualLlamaCpp) {
  CKPT_SHARED_OR_SKIP(model_path, "karpathy-stories260K/stories260K-converted-by-llama.cpp-c392e50.gguf");
  CKPT_SHARED_OR_SKIP(expected_path, "karpathy-stories260K/llama.cpp-greedy-20.txt");
  KernelChoiceScope scope(GetParam());
  const Model model = load_model(model_path);
  const Tokenizer tok(model.vocab, model_path);
  const auto prompt = tok.encode("Once upon a time", true, true);
  EXPECT_EQ(prompt, ids_after(expected_path, "prompt ids:"));
  const auto expected = ids_after(expected_path, "generated ids:");
  ASSERT_EQ(expected.size(), 20u);
  for (KvType kv : {KvType::F16, KvType::F32}) {
    Forward forward(model, 128, 2, kv);
    GenerateOptions g;
    g.max_new_tokens = 20;
    g.sampling.temperature = 0;
    const auto r = generate_tokens(forward, tok, prompt, g, nullptr);
    EXPECT_EQ(r.tokens, expected) << (kv == KvType::F16 ? "f16" : "f32") << " KV cache";
  }
}

TEST_P(Stories, TwoHundredStepsEqualRunC) {
  CKPT_SHARED_OR_SKIP(model_path, "karpathy-stories260K/stories260K-converted-by-llama.cpp-c392e50.gguf");
  CKPT_SHARED_OR_SKIP(text_path, "karpathy-stories260K/run.c-greedy-200-steps.txt");
  KernelChoiceScope scope(GetParam());
  const Model model = load_model(model_path);
  const Tokenizer tok(model.vocab, model_path);
  // run.c with no prompt starts from BOS and prints 200 sampled pieces, then a newline.
  std::ifstream in(text_path, std::ios::binary);
  std::stringstream expected;
  expected << in.rdbuf();
  for (KvType kv : {KvType::F16, KvType::F32}) {
    Forward forward(model, 256, 2, kv);
    GenerateOptions g;
    g.max_new_tokens = 200;
    g.sampling.temperature = 0;
    std::string text;
    generate(forward, tok, "", g, [&](std::string_view s) { text += s; });
    EXPECT_EQ(text + "\n", expected.str()) << (kv == KvType::F16 ? "f16" : "f32") << " KV cache";
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, Stories, ::testing::Values(KernelChoice::Best, KernelChoice::Reference),
                         [](const auto& info) { return info.param == KernelChoice::Best ? "best" : "reference"; });

double relative_error(std::span<const float> got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (got[i] - ref[i]) * (got[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

// Relative RMS difference of every matrix the file holds from the generated values: how much the
// weight type itself loses.
double weight_error(const test::RandomModel& rm) {
  double num = 0, den = 0;
  for (const auto& [name, orig] : rm.original) {
    const auto& stored = rm.stored.at(name);
    for (size_t i = 0; i < orig.size(); ++i) {
      num += (double{stored[i]} - orig[i]) * (double{stored[i]} - orig[i]);
      den += double{orig[i]} * orig[i];
    }
  }
  return std::sqrt(num / den);
}

struct TypeBound {
  DType dtype;
  // vs the float64 forward on the weights the file holds: only the runtime's own rounding. f32 sums
  // over <= 512 terms stay ~1e-6; the quantized types multiply against 8-bit activations (Q8_0 /
  // Q8_K blocks, as ggml does; prompt batches of every block type too), ~0.4% per value, which two
  // layers carry to ~1-2% of the logits.
  double kernel;
};
// vs the float64 forward on the weights before quantization, the bound adds the type's own loss:
// a relative weight error e moves the logits of these two-layer models by about 2-3 e, so 4 e.
constexpr double kAmplification = 4.0;

const TypeBound kBounds[] = {
    {DType::F32, 1e-5},  {DType::F16, 1e-5},  {DType::BF16, 1e-5},   {DType::Q8_0, 4e-2}, {DType::Q6_K, 4e-2},
    {DType::Q5_K, 4e-2}, {DType::Q4_K, 4e-2}, {DType::IQ4_NL, 4e-2}, {DType::Q4_0, 4e-2}, {DType::Q5_0, 4e-2},
    {DType::Q4_1, 4e-2},
};

struct ArchCase {
  const char* arch;
};

class RandomModelForward : public ::testing::TestWithParam<std::tuple<std::string, TypeBound>> {};

TEST_P(RandomModelForward, LogitsWithinTheTypeBound) {
  const auto& [arch, bound] = GetParam();
  test::TempDir dir;
  test::RandomModelSpec spec;
  spec.arch = arch;
  spec.weight_type = bound.dtype;
  spec.seed = test::test_seed();
  spec.tied_output = arch == "gpt2";
  if (arch == "gpt2") spec.n_head_kv = spec.n_head;
  const std::string path = dir.file("model.gguf");
  const auto rm = test::write_random_model(spec, path);
  const Model model = load_model(path);
  // 40 tokens: prompt batches take the batched kernels (>= 8 tokens Q8_0/Q4_0, >= 32 other block types).
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 40; ++i) tokens.push_back((i * 97 + 13) % static_cast<int32_t>(spec.n_vocab));
  const auto ref_stored = test::reference_logits(spec, rm.stored, tokens);
  const auto ref_original = test::reference_logits(spec, rm.original, tokens);
  for (KernelChoice choice : {KernelChoice::Best, KernelChoice::Reference}) {
    KernelChoiceScope scope(choice);
    Forward forward(model, 64, 2, KvType::F32);
    const auto logits = forward.eval(tokens, true);
    const double e_kernel = relative_error(logits, ref_stored), e_type = relative_error(logits, ref_original);
    const char* kernels = choice == KernelChoice::Best ? "best" : "reference";
    EXPECT_LT(e_kernel, bound.kernel) << arch << " " << dtype_name(bound.dtype) << " kernels " << kernels;
    const double type_bound = bound.kernel + kAmplification * weight_error(rm);
    EXPECT_LT(e_type, type_bound) << arch << " " << dtype_name(bound.dtype) << " kernels " << kernels;
    std::printf("  %s %s kernels %-9s logit error vs stored weights %.2e; vs original weights %.2e (weights off by %.2e)\n",
                arch.c_str(), std::string(dtype_name(bound.dtype)).c_str(), kernels, e_kernel, e_type, weight_error(rm));
  }
}

std::vector<std::tuple<std::string, TypeBound>> all_cases() {
  std::vector<std::tuple<std::string, TypeBound>> cases;
  for (const char* arch : {"llama", "qwen2", "gpt2"}) {
    for (const auto& b : kBounds) cases.emplace_back(arch, b);
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Types, RandomModelForward, ::testing::ValuesIn(all_cases()), [](const auto& info) {
  return std::get<0>(info.param) + "_" + std::string(dtype_name(std::get<1>(info.param).dtype));
});

TEST(Forward, IncrementalDecodeEqualsOneBatch) {
  // F32 weights: batch and single-token steps do the same arithmetic, so the KV cache and positions
  // are checked to float rounding. (Quantized batches take other kernels; their accuracy is bounded
  // against the float64 reference above.)
  test::TempDir dir;
  test::RandomModelSpec spec;
  spec.rope_scale_factor = 4;
  const auto rm = test::write_random_model(spec, dir.file("m.gguf"));
  const Model model = load_model(dir.file("m.gguf"));
  const std::vector<int32_t> tokens = {5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
  Forward batch(model, 32, 3, KvType::F32), step(model, 32, 1, KvType::F32);
  const auto all = batch.eval(tokens, true);
  const std::vector<float> all_copy(all.begin(), all.end());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const auto one = step.eval(std::span(tokens).subspan(i, 1));
    for (size_t v = 0; v < model.hp.n_vocab; ++v) ASSERT_NEAR(one[v], all_copy[i * model.hp.n_vocab + v], 1e-4) << i << " " << v;
  }
  // Linear rope scaling is honoured (the float64 reference reads the same factor).
  EXPECT_LT(relative_error(all_copy, test::reference_logits(spec, rm.stored, tokens)), 1e-5);
}

TEST(Forward, F16KvCacheStaysWithinItsRounding) {
  // f16 keeps 11 significant bits of each cached key/value (relative rounding <= 2^-11); through two
  // layers the logits move by about 1e-3 of their norm at most.
  test::TempDir dir;
  test::RandomModelSpec spec;
  spec.seed = test::test_seed();
  const auto rm = test::write_random_model(spec, dir.file("m.gguf"));
  const Model model = load_model(dir.file("m.gguf"));
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 40; ++i) tokens.push_back((i * 53 + 11) % static_cast<int32_t>(spec.n_vocab));
  Forward f16(model, 64, 2, KvType::F16);
  const auto logits = f16.eval(tokens, true);
  const double e = relative_error(logits, test::reference_logits(spec, rm.stored, tokens));
  EXPECT_LT(e, 3e-3);
  EXPECT_GT(e, 1e-7);  // the cache really is f16
}

TEST(Forward, Llama3RopeFrequencyFactorsAreHonoured) {
  test::TempDir dir;
  test::RandomModelSpec spec;
  spec.llama3_rope_freqs = true;
  spec.rope_base = 500000.0f;
  const auto rm = test::write_random_model(spec, dir.file("m.gguf"));
  const Model model = load_model(dir.file("m.gguf"));
  ASSERT_EQ(model.rope_freq_factors.size(), spec.n_embd / spec.n_head / 2);
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 24; ++i) tokens.push_back((i * 31 + 7) % static_cast<int32_t>(spec.n_vocab));
  Forward forward(model, 32, 2, KvType::F32);
  const auto logits = forward.eval(tokens, true);
  EXPECT_LT(relative_error(logits, test::reference_logits(spec, rm.stored, tokens)), 1e-5);
  // Without the factors the logits move: the test can fail.
  auto plain = spec;
  plain.llama3_rope_freqs = false;
  EXPECT_GT(relative_error(logits, test::reference_logits(plain, rm.stored, tokens)), 1e-3);
}

TEST(Forward, RejectsTokensOutsideTheVocabularyAndContextOverflow) {
  test::TempDir dir;
  test::RandomModelSpec spec;
  test::write_random_model(spec, dir.file("m.gguf"));
  const Model model = load_model(dir.file("m.gguf"));
  Forward forward(model, 4, 1);
  const std::vector<int32_t> bad = {static_cast<int32_t>(spec.n_vocab)};
  test::expect_error(ErrorCode::InvalidArgument, [&] { forward.eval(bad); });
  const std::vector<int32_t> five = {1, 2, 3, 4, 5};
  test::expect_error(ErrorCode::InvalidArgument, [&] { forward.eval(five); });
}

}  // namespace
}  // namespace ckpt::runtime
