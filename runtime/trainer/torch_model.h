// The model's forward pass in libtorch, written from the same Hparams and Layer weights the runtime's
// Forward reads, with LoRA parameters on chosen weights. Frozen weights stay in their stored form
// (mapped file bytes, bitsandbytes codes, GGUF blocks) and are dequantized one matrix at a time when
// a product needs them, in the forward and again in the backward pass; only f32 weights are used in
// place. One of the few files that include torch.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "runtime/model.h"
#include "runtime/rope.h"
#include "runtime/trainer/lora_targets.h"
#include "runtime/training_examples.h"

namespace ckpt::runtime {

struct LoraParams {
  LoraTarget target;
  torch::Tensor a, b;  // [r, cols], [rows, r] (B's rows in the weight's order), requires_grad
  double scaling = 1;
};

// A batch of sequences, right-padded: pad positions have segment -1 and label -100.
struct TorchBatch {
  torch::Tensor ids, labels, positions, segments;  // [B, T] int64
  int64_t n_targets = 0;
};
TorchBatch make_batch(const std::vector<const TrainingSequence*>& sequences);

namespace cuda {
class DeviceWeights;
}

class TorchModel {
 public:
  // dtype: what activations and dequantized weights are computed in (f32; f64 for gradient checks;
  // bf16 for --bf16, where LoRA products and the loss stay f32). device: where they live; on CUDA
  // the frozen weights are uploaded once in their stored form and dequantized by ckpt's CUDA kernels
  // (runtime/cuda) for each product, when this build has them (else decoded on the host and copied).
  TorchModel(const Model& model, uint32_t n_ctx, torch::Dtype dtype, torch::Device device = torch::kCPU);
  ~TorchModel();
  torch::Device device() const { return device_; }
  // Weight `w` as a dense [rows, cols] tensor of `dtype` on this model's device.
  torch::Tensor dense(const Weight& w, torch::Dtype dtype) const;

  void set_lora(std::vector<LoraParams>* lora, double dropout);
  void set_gradient_checkpointing(bool on) { checkpointing_ = on; }
  void set_training(bool on) { training_ = on; }

  torch::Tensor logits(const TorchBatch& batch);  // [B, T, n_vocab], f32 (f64 when dtype is)
  // Sum over every labelled position of -log p(label): divide by the targets of the global batch.
  torch::Tensor loss_sum(const TorchBatch& batch);

  // Runs one block (what gradient checkpointing recomputes); public for its autograd function.
  struct Context;
  torch::Tensor block(uint32_t il, torch::Tensor x, const Context& ctx);
  std::vector<torch::Tensor> block_params(uint32_t il) const;

 private:
  torch::Tensor linear(const Weight& w, const std::vector<float>& bias, torch::Tensor x);
  torch::Tensor norm(const std::vector<float>& w, const std::vector<float>& b, torch::Tensor x) const;
  torch::Tensor attention(uint32_t il, torch::Tensor h, const Context& ctx);
  torch::Tensor feed_forward(uint32_t il, torch::Tensor h);
  torch::Tensor vec(const std::vector<float>& v) const;

  const Model& model_;
  torch::Dtype dtype_;
  torch::Device device_;
  std::unique_ptr<cuda::DeviceWeights> device_weights_;
  RopeTables rope_;
  std::map<const Weight*, LoraParams*> lora_;
  std::vector<std::vector<torch::Tensor>> layer_params_;
  double dropout_ = 0;
  bool checkpointing_ = false;
  bool training_ = false;
  mutable std::map<const std::vector<float>*, torch::Tensor> vec_cache_;
};

// Weight `w` as a dense [rows, cols] tensor of `dtype` (f32 weights in place, when dtype is f32).
torch::Tensor dense_weight(const Weight& w, torch::Dtype dtype);

}  // namespace ckpt::runtime
