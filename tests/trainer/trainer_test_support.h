// Helpers of the trainer tests: one sequence as a batch, the runtime's logits and loss for the same
// tokens, and HF checkpoints of every architecture the runtime runs (tests/interop's generator).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "runtime/runtime.h"
#include "runtime/trainer/torch_model.h"

namespace ckpt::test {

inline runtime::TrainingSequence whole_sequence(const std::vector<int32_t>& ids, size_t n_prompt = 1) {
  runtime::TrainingSequence s;
  for (size_t i = 0; i < ids.size(); ++i) {
    s.ids.push_back(ids[i]);
    s.labels.push_back(i + 1 < ids.size() && i + 1 >= n_prompt ? ids[i + 1] : -100);
    s.positions.push_back(static_cast<int32_t>(i));
    s.segments.push_back(0);
  }
  return s;
}

inline std::vector<float> runtime_logits(const runtime::Model& m, const std::vector<int32_t>& ids) {
  runtime::Forward f(m, static_cast<uint32_t>(ids.size()), 2, runtime::KvType::F32);
  const auto l = f.eval(ids, true);
  return {l.begin(), l.end()};
}

// Mean over the labelled positions of -log softmax(logits)[label], in double.
inline double runtime_loss(const runtime::Model& m, const runtime::TrainingSequence& s) {
  const auto logits = runtime_logits(m, s.ids);
  const size_t v = m.hp.n_vocab;
  double sum = 0;
  size_t n = 0;
  for (size_t t = 0; t < s.ids.size(); ++t) {
    if (s.labels[t] < 0) continue;
    double mx = -1e300;
    for (size_t j = 0; j < v; ++j) mx = std::max(mx, double{logits[t * v + j]});
    double z = 0;
    for (size_t j = 0; j < v; ++j) z += std::exp(logits[t * v + j] - mx);
    sum += -(logits[t * v + static_cast<size_t>(s.labels[t])] - mx - std::log(z));
    ++n;
  }
  return sum / static_cast<double>(n);
}

inline double relative_rms(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

inline std::vector<float> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

}  // namespace ckpt::test
