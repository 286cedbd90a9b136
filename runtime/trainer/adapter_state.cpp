#include "runtime/trainer/adapter_state.h"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "formats/ckpt_archive_adapters.h"
#include "formats/error.h"
#include "formats/lora_adapter.h"
#include "formats/peft_adapter_write.h"
#include "quantize/quantize.h"

namespace ckpt::runtime {

namespace {

double lora_scaling(double alpha, uint32_t r, bool rslora) { return rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / r; }

}  // namespace

LoraSetup create_lora(const Model& model, const FinetuneOptions& o, torch::Dtype dtype) {
  LoraSetup s;
  s.r = o.r;
  s.alpha = o.lora_alpha;
  s.use_rslora = o.use_rslora;
  s.fan_in_fan_out = model.hp.arch == Arch::Gpt2;
  std::vector<std::string> requested = o.target_modules;
  std::unique_ptr<LoraAdapter> init;
  if (!o.init_adapter.empty()) {
    init = open_lora_adapter_for_base(o.base, o.init_adapter);
    if (init->gguf) throw Error(ErrorCode::Unsupported, o.init_adapter, Error::kNoOffset, "--init-adapter", "needs a PEFT adapter directory");
    if (init->info.use_dora || !init->full.empty()) throw Error(ErrorCode::Unsupported, o.init_adapter, Error::kNoOffset, "--init-adapter", "DoRA and modules_to_save are not trained here");
    requested.clear();
    for (const auto& m : init->modules) requested.push_back(m.module);
    s.r = static_cast<uint32_t>(init->info.r);
    s.alpha = init->info.lora_alpha;
    s.use_rslora = init->info.use_rslora;
  }
  if (s.r == 0) throw Error(ErrorCode::InvalidArgument, o.init_adapter, Error::kNoOffset, "r", "the rank must be > 0");
  torch::manual_seed(o.seed);
  for (auto& t : select_lora_targets(model, requested)) {
    LoraParams p;
    const auto rows = static_cast<int64_t>(t.weight->rows), cols = static_cast<int64_t>(t.weight->cols);
    p.target = std::move(t);
    p.a = torch::empty({static_cast<int64_t>(s.r), cols}, dtype);
    torch::nn::init::kaiming_uniform_(p.a, std::sqrt(5.0));
    p.b = torch::zeros({rows, static_cast<int64_t>(s.r)}, dtype);
    p.a.set_requires_grad(true);
    p.b.set_requires_grad(true);
    p.scaling = lora_scaling(s.alpha, s.r, s.use_rslora);
    s.params.push_back(std::move(p));
  }
  if (init) load_lora_values(s, o.init_adapter);
  return s;
}

void place_lora(std::vector<LoraParams>& params, const torch::Device& device) {
  for (auto& p : params) {
    if (p.a.device() == device) continue;
    p.a = p.a.detach().to(device).requires_grad_(true);
    p.b = p.b.detach().to(device).requires_grad_(true);
  }
}

void load_lora_values(LoraSetup& s, const std::string& dir) {
  const auto ad = open_lora_adapter(dir);
  torch::NoGradGuard no_grad;
  for (auto& p : s.params) {
    const LoraModule* m = ad->find(p.target.module);
    if (!m) throw Error(ErrorCode::NotFound, dir, Error::kNoOffset, p.target.module, "the adapter has no such module");
    const uint64_t rows = p.target.weight->rows, cols = p.target.weight->cols;
    if (m->r != s.r || m->out_features() != rows || m->in_features() != cols) {
      throw Error(ErrorCode::BadShape, dir, Error::kNoOffset, p.target.module,
                  fmt::format("r {} [{}, {}] where the run has r {} [{}, {}]", m->r, m->out_features(), m->in_features(), s.r, rows, cols));
    }
    p.scaling = m->scale;
    const std::vector<float> a = decode_tensor_values(*m->a, 1), b = decode_tensor_values(*m->b, 1);
    p.a.copy_(torch::from_blob(const_cast<float*>(a.data()), {static_cast<int64_t>(s.r), static_cast<int64_t>(cols)}, torch::kFloat32));
    // B's rows in the weight's order (GGUF bases permute Q/K rows).
    std::vector<float> bw(b.size());
    for (uint64_t o = 0; o < rows; ++o) std::copy_n(b.begin() + static_cast<ptrdiff_t>(hf_row_of(p.target, o) * s.r), s.r, bw.begin() + static_cast<ptrdiff_t>(o * s.r));
    p.b.copy_(torch::from_blob(bw.data(), {static_cast<int64_t>(rows), static_cast<int64_t>(s.r)}, torch::kFloat32));
  }
}

void write_lora(const LoraSetup& s, const FinetuneOptions& o, const std::string& dir) {
  PeftLoraConfig config;
  config.base_model_name_or_path = o.base;
  config.r = s.r;
  config.lora_alpha = s.alpha;
  config.lora_dropout = o.lora_dropout;
  config.use_rslora = s.use_rslora;
  std::set<std::string> names;
  std::vector<PeftLoraModule> modules;
  for (const auto& p : s.params) {
    names.insert(p.target.short_name);
    PeftLoraModule m;
    m.module = p.target.module;
    m.rows = p.target.weight->rows;
    m.cols = p.target.weight->cols;
    m.r = s.r;
    const torch::Tensor a = p.a.detach().to(torch::kCPU, torch::kFloat32).contiguous(), b = p.b.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    m.a.assign(a.data_ptr<float>(), a.data_ptr<float>() + a.numel());
    const float* bw = b.data_ptr<float>();
    m.b.resize(m.rows * m.r);
    for (uint64_t row = 0; row < m.rows; ++row) std::copy_n(bw + row * m.r, m.r, m.b.begin() + static_cast<ptrdiff_t>(hf_row_of(p.target, row) * m.r));
    modules.push_back(std::move(m));
  }
  config.target_modules.assign(names.begin(), names.end());
  config.fan_in_fan_out = s.fan_in_fan_out;
  write_peft_adapter(dir, config, modules);
}

}  // namespace ckpt::runtime
