// LoRA gradients from autograd against finite differences of the loss: tightly through the trainer's
// own float64 forward, and through the runtime's Forward (f32, with the adapter attached as `run
// --lora` attaches it), an independent implementation of the same model. Also PEFT's initialisation,
// gradient checkpointing and bf16.
#include <gtest/gtest.h>

#include <algorithm>

#include "convert/convert.h"
#include "quantize/quantize_bnb.h"
#include "runtime/trainer/adapter_state.h"
#include "tests/support/test_support.h"
#include "tests/trainer/trainer_test_support.h"

namespace ckpt::runtime {
namespace {

const std::string kSample = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";

// LoRA on q, v and down_proj of the sample, with non-zero A and B (B = 0 would hide A's gradient).
std::vector<LoraParams> random_lora(const Model& m, torch::Dtype dtype, uint32_t r = 4) {
  torch::manual_seed(7);
  std::vector<LoraParams> out;
  for (auto& t : select_lora_targets(m, {"q_proj", "v_proj", "down_proj", "lm_head"})) {
    LoraParams p;
    p.target = t;
    p.a = (torch::randn({r, static_cast<int64_t>(t.weight->cols)}, dtype) * 0.3).set_requires_grad(true);
    p.b = (torch::randn({static_cast<int64_t>(t.weight->rows), r}, dtype) * 0.3).set_requires_grad(true);
    p.scaling = 2.0;
    out.push_back(std::move(p));
  }
  return out;
}

TrainingSequence sample_sequence() {
  return test::whole_sequence({1, 67, 120, 33, 250, 17, 99, 301, 44, 2}, 4);
}

double torch_loss(TorchModel& tm, const TrainingSequence& s) {
  const TorchBatch b = make_batch({&s});
  return tm.loss_sum(b).item<double>() / static_cast<double>(b.n_targets);
}

// The runtime's loss with the adapter as run --lora applies it: y += (scaling B) (A x).
double runtime_loss_with(Model& m, const std::vector<LoraParams>& lora, const TrainingSequence& s) {
  for (const auto& p : lora) {
    auto* w = const_cast<Weight*>(p.target.weight);
    const auto a = test::to_vector(p.a);
    auto b = test::to_vector(p.b);
    for (float& x : b) x = static_cast<float>(x * p.scaling);
    w->lora.assign(1, LoraTerm{std::make_shared<const std::vector<float>>(a), std::make_shared<const std::vector<float>>(b), static_cast<uint32_t>(p.a.size(0))});
  }
  const double loss = test::runtime_loss(m, s);
  for (const auto& p : lora) const_cast<Weight*>(p.target.weight)->lora.clear();
  return loss;
}

struct Probe {
  size_t param;  // index into lora
  bool b;
  int64_t index;
};

// The entries with the largest autograd gradients of each tensor (so f32 finite differences resolve them).
std::vector<Probe> probes(const std::vector<LoraParams>& lora) {
  std::vector<Probe> out;
  for (size_t i = 0; i < lora.size(); ++i) {
    for (bool b : {false, true}) {
      const torch::Tensor g = (b ? lora[i].b : lora[i].a).grad().abs().reshape({-1});
      out.push_back({i, b, g.argmax().item<int64_t>()});
    }
  }
  return out;
}

// The base in three stored forms: HF bf16, bitsandbytes NF4 with double quantization (QLoRA), and a
// Q8_0 GGUF (Q/K rows permuted, interleaved rope).
std::string make_base(const std::string& kind, const test::TempDir& dir) {
  if (kind == "hf-bf16") return kSample;
  if (kind == "nf4-dq") {
    QuantizeOptions q;
    q.input = kSample;
    q.output = dir.file("nf4");
    quantize_hf_to_bnb(q, *parse_bnb_type("nf4-dq"));
    return q.output;
  }
  ConvertOptions c;
  c.input = kSample;
  c.output = dir.file("q8.gguf");
  c.outtype = "q8_0";
  convert(c);
  return c.output;
}

class LoraGradientsFloat64 : public ::testing::TestWithParam<std::string> {};

TEST_P(LoraGradientsFloat64, AutogradEqualsFiniteDifferences) {
  test::TempDir dir;
  const Model model = load_model(make_base(GetParam(), dir));
  auto lora = random_lora(model, torch::kFloat64);
  TorchModel tm(model, 32, torch::kFloat64);
  tm.set_lora(&lora, 0);
  const auto seq = sample_sequence();
  const TorchBatch batch = make_batch({&seq});
  (tm.loss_sum(batch) / static_cast<double>(batch.n_targets)).backward();
  torch::NoGradGuard no_grad;
  for (const auto& pr : probes(lora)) {
    torch::Tensor t = (pr.b ? lora[pr.param].b : lora[pr.param].a).view({-1});
    const double analytic = (pr.b ? lora[pr.param].b : lora[pr.param].a).grad().view({-1})[pr.index].item<double>();
    const double h = 1e-5, x0 = t[pr.index].item<double>();
    t[pr.index] = x0 + h;
    const double up = torch_loss(tm, seq);
    t[pr.index] = x0 - h;
    const double down = torch_loss(tm, seq);
    t[pr.index] = x0;
    const double numeric = (up - down) / (2 * h);
    EXPECT_NEAR(analytic, numeric, 1e-7 + 1e-6 * std::abs(numeric)) << lora[pr.param].target.module << (pr.b ? " B" : " A") << "[" << pr.index << "]";
  }
}

INSTANTIATE_TEST_SUITE_P(Bases, LoraGradientsFloat64, ::testing::Values("hf-bf16", "nf4-dq", "q8_0-gguf"),
                         [](const auto& info) { std::string n = info.param; for (char& c : n) c = c == '-' ? '_' : c; return n; });

class LoraGradientsOnBase : public ::testing::TestWithParam<std::string> {};

TEST_P(LoraGradientsOnBase, AutogradEqualsFiniteDifferencesThroughTheRuntime) {
  test::TempDir dir;
  Model model = load_model(make_base(GetParam(), dir));
  auto lora = random_lora(model, torch::kFloat32);
  TorchModel tm(model, 32, torch::kFloat32);
  tm.set_lora(&lora, 0);
  const auto seq = sample_sequence();
  const TorchBatch batch = make_batch({&seq});
  const torch::Tensor loss = tm.loss_sum(batch) / static_cast<double>(batch.n_targets);
  loss.backward();
  // The two forwards agree on the loss itself first.
  EXPECT_NEAR(loss.item<double>(), runtime_loss_with(model, lora, seq), 2e-5);
  torch::NoGradGuard no_grad;
  for (const auto& pr : probes(lora)) {
    torch::Tensor t = (pr.b ? lora[pr.param].b : lora[pr.param].a).view({-1});
    const double analytic = (pr.b ? lora[pr.param].b : lora[pr.param].a).grad().view({-1})[pr.index].item<double>();
    const float x0 = t[pr.index].item<float>(), h = 2e-2f;
    t[pr.index] = x0 + h;
    const double up = runtime_loss_with(model, lora, seq);
    t[pr.index] = x0 - h;
    const double down = runtime_loss_with(model, lora, seq);
    t[pr.index] = x0;
    const double numeric = (up - down) / (2.0 * h);
    // f32 losses (~1e-6 noise over 4e-2) and the O(h^2) term: a few per cent of the gradient.
    EXPECT_NEAR(analytic, numeric, 2e-4 + 0.03 * std::abs(numeric)) << lora[pr.param].target.module << (pr.b ? " B" : " A");
  }
}

// (Not GGUF block types here: the runtime multiplies them against 8-bit activations, as ggml does,
// which makes its loss a step function of the adapter; the float64 test covers them.)
INSTANTIATE_TEST_SUITE_P(Bases, LoraGradientsOnBase, ::testing::Values("hf-bf16", "nf4-dq"),
                         [](const auto& info) { std::string n = info.param; for (char& c : n) c = c == '-' ? '_' : c; return n; });

TEST(LoraGradients, CheckpointingRecomputesTheSameGradientsDropoutIncluded) {
  const Model model = load_model(kSample);
  const auto seq = sample_sequence();
  std::vector<std::vector<float>> grads[2];
  for (int checkpointing = 0; checkpointing < 2; ++checkpointing) {
    auto lora = random_lora(model, torch::kFloat32);
    TorchModel tm(model, 32, torch::kFloat32);
    tm.set_lora(&lora, 0.3);
    tm.set_training(true);
    tm.set_gradient_checkpointing(checkpointing == 1);
    torch::manual_seed(11);
    tm.loss_sum(make_batch({&seq})).backward();
    for (const auto& p : lora) grads[checkpointing].push_back(test::to_vector(p.a.grad())), grads[checkpointing].push_back(test::to_vector(p.b.grad()));
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i) {
    for (size_t j = 0; j < grads[0][i].size(); ++j) ASSERT_NEAR(grads[0][i][j], grads[1][i][j], 1e-5 + 1e-4 * std::abs(grads[0][i][j])) << i << " " << j;
  }
}

TEST(LoraInit, KaimingUniformAAndZeroBLeaveTheBaseUnchanged) {
  const Model model = load_model(kSample);
  FinetuneOptions o;
  o.base = kSample;
  o.r = 8;
  o.target_modules = {"all-linear"};
  const LoraSetup s = create_lora(model, o, torch::kFloat32);
  ASSERT_EQ(s.params.size(), 14u);  // 7 projections x 2 layers
  for (const auto& p : s.params) {
    // PEFT: kaiming_uniform_(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)).
    const double bound = 1.0 / std::sqrt(static_cast<double>(p.target.weight->cols));
    EXPECT_LE(p.a.abs().max().item<double>(), bound);
    EXPECT_GT(p.a.abs().max().item<double>(), 0.9 * bound);
    EXPECT_NEAR(p.a.var().item<double>(), bound * bound / 3, 0.25 * bound * bound / 3);  // uniform variance
    EXPECT_EQ(p.b.abs().max().item<double>(), 0.0);
    EXPECT_DOUBLE_EQ(p.scaling, 8.0 / 8.0);
  }
  auto params = s.params;
  TorchModel with(model, 32, torch::kFloat32), without(model, 32, torch::kFloat32);
  with.set_lora(&params, 0);
  const auto seq = sample_sequence();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(with.logits(make_batch({&seq})), without.logits(make_batch({&seq}))));
}

TEST(LoraInit, Bf16ComputeStaysCloseToF32) {
  const Model model = load_model(kSample);
  const auto seq = sample_sequence();
  TorchModel f32(model, 32, torch::kFloat32), bf16(model, 32, torch::kBFloat16);
  torch::NoGradGuard no_grad;
  const auto a = test::to_vector(f32.logits(make_batch({&seq}))), b = test::to_vector(bf16.logits(make_batch({&seq})));
  EXPECT_LT(test::relative_rms(b, {a.begin(), a.end()}), 3e-2);  // bf16 keeps 8 bits of mantissa
}

// QLoRA on the GPU: the same step (loss and LoRA gradients, dropout off) on the CUDA device, whose
// frozen NF4 / Q8_0 weights are dequantized by ckpt's CUDA kernels, equals the CPU step. Needs a
// libtorch with CUDA and a device (PyTorch's; Debian's libtorch-dev is CPU-only).
class QloraStepOnCuda : public ::testing::TestWithParam<std::string> {};

TEST_P(QloraStepOnCuda, EqualsTheCpuStep) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "QLoRA on CUDA not checked: this libtorch sees no CUDA device";
  test::TempDir dir;
  const Model model = load_model(make_base(GetParam(), dir));
  const auto seq = sample_sequence();
  double losses[2];
  std::vector<std::vector<float>> grads[2];
  for (int on_gpu = 0; on_gpu < 2; ++on_gpu) {
    auto lora = random_lora(model, torch::kFloat32);
    const torch::Device device = on_gpu ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    place_lora(lora, device);
    TorchModel tm(model, 32, torch::kFloat32, device);
    tm.set_lora(&lora, 0);
    const TorchBatch batch = make_batch({&seq});
    const torch::Tensor loss = tm.loss_sum(batch) / static_cast<double>(batch.n_targets);
    loss.backward();
    losses[on_gpu] = loss.item<double>();
    for (const auto& p : lora) grads[on_gpu].push_back(test::to_vector(p.a.grad().cpu())), grads[on_gpu].push_back(test::to_vector(p.b.grad().cpu()));
  }
  EXPECT_NEAR(losses[1], losses[0], 1e-4 * std::abs(losses[0]));
  for (size_t i = 0; i < grads[0].size(); ++i) {
    EXPECT_LT(test::relative_rms(grads[1][i], {grads[0][i].begin(), grads[0][i].end()}), 1e-3) << "parameter " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Bases, QloraStepOnCuda, ::testing::Values("nf4-dq", "q8_0-gguf"),
                         [](const auto& info) { std::string n = info.param; for (char& c : n) c = c == '-' ? '_' : c; return n; });

}  // namespace
}  // namespace ckpt::runtime
