#include "runtime/trainer/torch_model.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <limits>

#include "runtime/cuda/cuda_backend.h"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_matvec.h"
#include "runtime/matmul.h"

namespace ckpt::runtime {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Tensors only, so gradient checkpointing can keep them with the block it recomputes.
struct TorchModel::Context {
  Tensor mask, mask_swa;  // [B, 1, T, T] bool: query i may attend to key j
  Tensor cos, sin, cos_swa, sin_swa;  // [B, T, 1, pairs]
  std::vector<Tensor> list() const { return {mask, mask_swa, cos, sin, cos_swa, sin_swa}; }
  static Context from(const variable_list& v, size_t at) { return {v[at], v[at + 1], v[at + 2], v[at + 3], v[at + 4], v[at + 5]}; }
};

Tensor dense_weight(const Weight& w, torch::Dtype dtype) {
  const auto rows = static_cast<int64_t>(w.rows), cols = static_cast<int64_t>(w.cols);
  if (!w.bnb4 && w.dtype == DType::F32 && w.row_bytes == w.cols * sizeof(float)) {
    // The mapped bytes themselves (read only: nothing writes to a frozen weight).
    Tensor t = torch::from_blob(const_cast<std::byte*>(w.data), {rows, cols}, torch::kFloat32);
    return dtype == torch::kFloat32 ? t : t.to(dtype);
  }
  Tensor t = torch::empty({rows, cols}, torch::kFloat32);
  float* out = t.data_ptr<float>();
  at::parallel_for(0, rows, 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) decode_weight_row(w, static_cast<uint64_t>(r), {out + r * cols, static_cast<size_t>(cols)});
  });
  return dtype == torch::kFloat32 ? t : t.to(dtype);
}

namespace {

// y = x W^T with W frozen in its stored form: dequantized here and again in backward (dx = dy W),
// never kept between the two.
struct FrozenLinear : torch::autograd::Function<FrozenLinear> {
  static Tensor forward(AutogradContext* ctx, Tensor x, int64_t weight, int64_t model) {
    ctx->saved_data["w"] = weight;
    ctx->saved_data["model"] = model;
    return x.matmul(reinterpret_cast<const TorchModel*>(model)->dense(*reinterpret_cast<const Weight*>(weight), x.scalar_type()).t());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto* w = reinterpret_cast<const Weight*>(ctx->saved_data["w"].toInt());
    const auto* m = reinterpret_cast<const TorchModel*>(ctx->saved_data["model"].toInt());
    return {grads[0].matmul(m->dense(*w, grads[0].scalar_type())), Tensor(), Tensor()};
  }
};

// The generator dropout draws from on `device` (the recomputation must replay its masks).
at::Generator generator_for(const torch::Device& device) { return at::globalContext().defaultGenerator(device); }

// Gradient checkpointing: the block runs without keeping activations; backward recomputes it (with
// the dropout masks of the first run) and differentiates that.
struct BlockCheckpoint : torch::autograd::Function<BlockCheckpoint> {
  static Tensor forward(AutogradContext* ctx, Tensor x, torch::TensorList params, torch::TensorList context, int64_t model, int64_t il) {
    ctx->save_for_backward({x});
    ctx->saved_data["model"] = model;
    ctx->saved_data["il"] = il;
    ctx->saved_data["n_params"] = static_cast<int64_t>(params.size());
    ctx->saved_data["context"] = context.vec();
    auto* m = reinterpret_cast<TorchModel*>(model);
    auto gen = generator_for(m->device());
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      ctx->saved_data["rng"] = gen.get_state();
    }
    const variable_list c = context.vec();
    return m->block(static_cast<uint32_t>(il), x, TorchModel::Context::from(c, 0));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* m = reinterpret_cast<TorchModel*>(ctx->saved_data["model"].toInt());
    const auto il = static_cast<uint32_t>(ctx->saved_data["il"].toInt());
    const auto n_params = ctx->saved_data["n_params"].toInt();
    const variable_list c = ctx->saved_data["context"].toTensorVector();
    Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    auto gen = generator_for(m->device());
    Tensor now;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      now = gen.get_state();
      gen.set_state(ctx->saved_data["rng"].toTensor());
    }
    Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = m->block(il, x, TorchModel::Context::from(c, 0));
    }
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(now);
    }
    variable_list inputs{x};
    for (const auto& p : m->block_params(il)) inputs.push_back(p);
    variable_list g = torch::autograd::grad({y}, inputs, {grads[0]}, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
    variable_list out{g[0]};
    for (int64_t i = 0; i < n_params; ++i) out.push_back(g[static_cast<size_t>(1 + i)]);
    for (size_t i = 0; i < c.size(); ++i) out.emplace_back();
    out.emplace_back();
    out.emplace_back();
    return out;
  }
};

Tensor rms(Tensor x, const Tensor& w, double eps) { return x * torch::rsqrt(x.pow(2).mean(-1, true) + eps) * w; }

// Rotates the first 2 * pairs dimensions of each head: x [B, T, heads, head_dim], cos/sin [B, T, 1, pairs].
Tensor rope(const Tensor& x, const Tensor& cos, const Tensor& sin, int64_t pairs, bool interleaved) {
  const int64_t hd = x.size(-1), rd = 2 * pairs;
  Tensor xr = x.narrow(-1, 0, rd);
  Tensor rotated;
  if (interleaved) {  // pairs (2i, 2i+1)
    Tensor p = xr.unflatten(-1, {pairs, 2});
    Tensor x0 = p.select(-1, 0), x1 = p.select(-1, 1);
    rotated = torch::stack({x0 * cos - x1 * sin, x0 * sin + x1 * cos}, -1).flatten(-2);
  } else {  // pairs (i, i + pairs)
    Tensor x0 = xr.narrow(-1, 0, pairs), x1 = xr.narrow(-1, pairs, pairs);
    rotated = torch::cat({x0 * cos - x1 * sin, x0 * sin + x1 * cos}, -1);
  }
  return rd == hd ? rotated : torch::cat({rotated, x.narrow(-1, rd, hd - rd)}, -1);
}

}  // namespace

TorchBatch make_batch(const std::vector<const TrainingSequence*>& sequences) {
  size_t t_max = 1;
  for (const auto* s : sequences) t_max = std::max(t_max, s->ids.size());
  const auto b = static_cast<int64_t>(sequences.size()), t = static_cast<int64_t>(t_max);
  TorchBatch batch;
  batch.ids = torch::zeros({b, t}, torch::kInt64);
  batch.labels = torch::full({b, t}, -100, torch::kInt64);
  batch.positions = torch::zeros({b, t}, torch::kInt64);
  batch.segments = torch::full({b, t}, -1, torch::kInt64);
  auto ids = batch.ids.accessor<int64_t, 2>(), labels = batch.labels.accessor<int64_t, 2>();
  auto pos = batch.positions.accessor<int64_t, 2>(), seg = batch.segments.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const TrainingSequence& s = *sequences[static_cast<size_t>(i)];
    for (size_t j = 0; j < s.ids.size(); ++j) {
      const auto k = static_cast<int64_t>(j);
      ids[i][k] = s.ids[j];
      labels[i][k] = s.labels[j];
      pos[i][k] = s.positions[j];
      seg[i][k] = s.segments[j];
    }
    batch.n_targets += static_cast<int64_t>(s.n_targets());
  }
  return batch;
}

TorchModel::TorchModel(const Model& model, uint32_t n_ctx, torch::Dtype dtype, torch::Device device)
    : model_(model), dtype_(dtype), device_(device), rope_(rope_tables(model, n_ctx)) {
  layer_params_.resize(model.layers.size());
  if (device_.is_cuda() && cuda::built_with_cuda()) device_weights_ = std::make_unique<cuda::DeviceWeights>();
}

TorchModel::~TorchModel() = default;

Tensor TorchModel::dense(const Weight& w, torch::Dtype dtype) const {
  if (!device_.is_cuda()) return dense_weight(w, dtype);
  if (!device_weights_) return dense_weight(w, torch::kFloat32).to(device_, dtype);  // no CUDA kernels in this build
  // QLoRA on the GPU: the stored bytes (NF4 codes, GGUF blocks) stay resident; each product
  // dequantizes them with the kernels the CUDA runtime uses, on the stream torch computes on.
  Tensor t = torch::empty({static_cast<int64_t>(w.rows), static_cast<int64_t>(w.cols)}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  cuda::dequantize_rows(device_weights_->matrix(w), nullptr, w.rows, t.data_ptr<float>());
  return dtype == torch::kFloat32 ? t : t.to(dtype);
}

void TorchModel::set_lora(std::vector<LoraParams>* lora, double dropout) {
  lora_.clear();
  for (auto& v : layer_params_) v.clear();
  dropout_ = dropout;
  if (!lora) return;
  for (auto& p : *lora) {
    lora_[p.target.weight] = &p;
    if (p.target.layer >= layer_params_.size()) continue;  // the output head: outside the blocks
    layer_params_[p.target.layer].push_back(p.a);
    layer_params_[p.target.layer].push_back(p.b);
  }
}

std::vector<Tensor> TorchModel::block_params(uint32_t il) const { return layer_params_[il]; }

Tensor TorchModel::vec(const std::vector<float>& v) const {
  auto it = vec_cache_.find(&v);
  if (it != vec_cache_.end()) return it->second;
  Tensor t = torch::from_blob(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())}, torch::kFloat32).to(device_, dtype_, false, true);
  vec_cache_[&v] = t;
  return t;
}

Tensor TorchModel::linear(const Weight& w, const std::vector<float>& bias, Tensor x) {
  Tensor y = FrozenLinear::apply(x, reinterpret_cast<int64_t>(&w), reinterpret_cast<int64_t>(this));
  if (auto it = lora_.find(&w); it != lora_.end()) {
    const LoraParams& p = *it->second;
    // PEFT: lora_B(lora_A(dropout(x))) * scaling, x cast to the adapter's dtype and the result back.
    Tensor xl = x.to(p.a.scalar_type());
    if (training_ && dropout_ > 0) xl = torch::dropout(xl, dropout_, true);
    y = y + (xl.matmul(p.a.t()).matmul(p.b.t()) * p.scaling).to(y.scalar_type());
  }
  if (!bias.empty()) y = y + vec(bias);
  return y;
}

Tensor TorchModel::norm(const std::vector<float>& w, const std::vector<float>& b, Tensor x) const {
  if (w.empty()) return x;  // EXAONE 4: blocks read the residual stream as it is
  if (model_.hp.layer_norm) return torch::layer_norm(x, {x.size(-1)}, vec(w), vec(b), model_.hp.norm_eps);
  return rms(x, vec(w), model_.hp.norm_eps);
}

Tensor TorchModel::attention(uint32_t il, Tensor h, const Context& ctx) {
  const Hparams& hp = model_.hp;
  const Layer& l = model_.layers[il];
  const int64_t B = h.size(0), T = h.size(1), hd = hp.head_dim, H = hp.n_head, Hkv = hp.n_head_kv;
  Tensor q, k, v;
  if (l.wqkv.present()) {
    Tensor qkv = linear(l.wqkv, l.bqkv, h);
    q = qkv.narrow(-1, 0, H * hd);
    k = qkv.narrow(-1, H * hd, Hkv * hd);
    v = qkv.narrow(-1, (H + Hkv) * hd, Hkv * hd);
  } else {
    q = linear(l.wq, l.bq, h);
    k = linear(l.wk, l.bk, h);
    v = linear(l.wv, l.bv, h);
  }
  q = q.reshape({B, T, H, hd});
  k = k.reshape({B, T, Hkv, hd});
  v = v.reshape({B, T, Hkv, hd});
  const bool swa = hp.is_swa(il);
  if (hp.arch != Arch::Gpt2) {
    if (!l.attn_q_norm.empty()) {
      q = rms(q, vec(l.attn_q_norm), hp.norm_eps);
      k = rms(k, vec(l.attn_k_norm), hp.norm_eps);
    }
    if (const int64_t pairs = rope_.pairs(hp, il)) {
      const Tensor& c = swa ? ctx.cos_swa : ctx.cos;
      const Tensor& s = swa ? ctx.sin_swa : ctx.sin;
      const bool interleaved = hp.rope_style == RopeStyle::Interleaved;
      q = rope(q, c, s, pairs, interleaved);
      k = rope(k, c, s, pairs, interleaved);
    }
  }
  q = q.transpose(1, 2);
  k = k.transpose(1, 2);
  v = v.transpose(1, 2);
  if (H != Hkv) {
    k = k.repeat_interleave(H / Hkv, 1);
    v = v.repeat_interleave(H / Hkv, 1);
  }
  const double scale = hp.attn_scale > 0 ? hp.attn_scale : 1.0 / std::sqrt(static_cast<double>(hd));
  Tensor scores = q.matmul(k.transpose(-1, -2)) * scale;
  if (hp.attn_softcap > 0) scores = torch::tanh(scores / hp.attn_softcap) * hp.attn_softcap;
  scores = scores.masked_fill(swa ? ctx.mask_swa.logical_not() : ctx.mask.logical_not(), -std::numeric_limits<double>::infinity());
  Tensor out = torch::softmax(scores, -1).matmul(v).transpose(1, 2).reshape({B, T, H * hd});
  return linear(l.wo, l.bo, out);
}

Tensor TorchModel::feed_forward(uint32_t il, Tensor h) {
  const Hparams& hp = model_.hp;
  const Layer& l = model_.layers[il];
  if (hp.arch == Arch::Phi3) {  // gate and up fused, gate first
    Tensor gu = linear(l.w_up, l.b_up, h);
    const int64_t F = hp.n_ff;
    return linear(l.w_down, l.b_down, gu.narrow(-1, F, F) * torch::silu(gu.narrow(-1, 0, F)));
  }
  Tensor up = linear(l.w_up, l.b_up, h);
  Tensor act;
  if (!l.w_gate.present()) {
    act = torch::gelu(up, "tanh");
  } else {
    Tensor gate = linear(l.w_gate, {}, h);
    act = up * (hp.gelu_gate ? torch::gelu(gate, "tanh") : torch::silu(gate));
  }
  return linear(l.w_down, l.b_down, act);
}

Tensor TorchModel::block(uint32_t il, Tensor x, const Context& ctx) {
  const Layer& l = model_.layers[il];
  const double eps = model_.hp.norm_eps;
  auto post = [&](const std::vector<float>& w, Tensor t) { return w.empty() ? t : rms(t, vec(w), eps); };
  if (model_.hp.parallel_residual) {  // x + attn(ln1(x)) + ffn(ln2(x))
    Tensor ffn_in = norm(l.ffn_norm, l.ffn_norm_b, x);
    Tensor a = post(l.attn_post_norm, attention(il, norm(l.attn_norm, l.attn_norm_b, x), ctx));
    return x + a + post(l.ffn_post_norm, feed_forward(il, ffn_in));
  }
  x = x + post(l.attn_post_norm, attention(il, norm(l.attn_norm, l.attn_norm_b, x), ctx));
  return x + post(l.ffn_post_norm, feed_forward(il, norm(l.ffn_norm, l.ffn_norm_b, x)));
}

Tensor TorchModel::logits(const TorchBatch& batch) {
  const Hparams& hp = model_.hp;
  const int64_t B = batch.ids.size(0), T = batch.ids.size(1), E = hp.n_embd;
  // Embeddings: the rows the batch uses, decoded from the stored type.
  Tensor x = torch::empty({B * T, E}, torch::kFloat32);
  {
    auto ids = batch.ids.reshape({-1});
    const int64_t* id = ids.data_ptr<int64_t>();
    float* out = x.data_ptr<float>();
    for (int64_t i = 0; i < B * T; ++i) {
      if (id[i] < 0 || static_cast<uint64_t>(id[i]) >= hp.n_vocab) throw std::out_of_range("token id outside the vocabulary");
      decode_weight_row(model_.tok_embd, static_cast<uint64_t>(id[i]), {out + i * E, static_cast<size_t>(E)});
      if (hp.embd_scale != 1.0f) {
        for (int64_t j = 0; j < E; ++j) out[i * E + j] *= hp.embd_scale;
      }
      if (hp.arch == Arch::Gpt2) {
        std::vector<float> p(static_cast<size_t>(E));
        decode_weight_row(model_.pos_embd, static_cast<uint64_t>(batch.positions.reshape({-1})[i].item<int64_t>()), p);
        for (int64_t j = 0; j < E; ++j) out[i * E + j] += p[static_cast<size_t>(j)];
      }
    }
  }
  x = x.reshape({B, T, E}).to(device_, dtype_);
  // Masks: causal, inside one segment (packed examples never see each other), within the window on
  // sliding-window layers (keys at most n_swa - 1 positions back).
  Context ctx;
  Tensor seg = batch.segments, pos = batch.positions;
  Tensor idx = torch::arange(T, torch::kInt64);
  Tensor same = seg.unsqueeze(2) == seg.unsqueeze(1);
  Tensor causal = (idx.unsqueeze(1) >= idx.unsqueeze(0)).unsqueeze(0);
  ctx.mask = (same & causal).unsqueeze(1);
  ctx.mask_swa = ctx.mask;
  if (hp.n_swa > 0) ctx.mask_swa = ctx.mask & ((pos.unsqueeze(2) - pos.unsqueeze(1)) < static_cast<int64_t>(hp.n_swa)).unsqueeze(1);
  // cos/sin as the runtime computes them: the angle in double, rounded to f32, times mscale.
  auto angles = [&](const std::vector<float>& inv_freq, Tensor& c, Tensor& s) {
    if (inv_freq.empty()) {
      c = s = torch::zeros({1}, dtype_);
      return;
    }
    Tensor f = torch::tensor(std::vector<double>(inv_freq.begin(), inv_freq.end()), torch::kFloat64);
    Tensor theta = pos.to(torch::kFloat64).unsqueeze(-1) * f;
    c = (theta.cos().to(torch::kFloat32) * rope_.mscale).to(dtype_).unsqueeze(2);
    s = (theta.sin().to(torch::kFloat32) * rope_.mscale).to(dtype_).unsqueeze(2);
  };
  angles(rope_.inv_freq, ctx.cos, ctx.sin);
  angles(rope_.inv_freq_swa, ctx.cos_swa, ctx.sin_swa);
  for (Tensor* t : {&ctx.mask, &ctx.mask_swa, &ctx.cos, &ctx.sin, &ctx.cos_swa, &ctx.sin_swa}) *t = t->to(device_);
  const std::vector<Tensor> context = ctx.list();
  for (uint32_t il = 0; il < hp.n_layer; ++il) {
    if (checkpointing_ && torch::GradMode::is_enabled()) {
      // Explicit TensorLists: a std::vector argument would not be seen as autograd inputs.
      x = BlockCheckpoint::apply(x, torch::TensorList(layer_params_[il]), torch::TensorList(context), reinterpret_cast<int64_t>(this), static_cast<int64_t>(il));
    } else {
      x = block(il, x, ctx);
    }
  }
  x = norm(model_.output_norm, model_.output_norm_b, x);
  Tensor logits = linear(model_.output, {}, x);
  if (dtype_ == torch::kBFloat16 || dtype_ == torch::kFloat16) logits = logits.to(torch::kFloat32);
  if (hp.final_softcap > 0) logits = torch::tanh(logits / hp.final_softcap) * hp.final_softcap;
  return logits;
}

Tensor TorchModel::loss_sum(const TorchBatch& batch) {
  Tensor l = logits(batch);
  namespace F = torch::nn::functional;
  return F::cross_entropy(l.reshape({-1, l.size(-1)}), batch.labels.reshape({-1}).to(device_), F::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
}

}  // namespace ckpt::runtime
