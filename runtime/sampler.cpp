#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ckpt::runtime {

int32_t argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  const size_t n_vocab = logits.size();
  work_.assign(logits.begin(), logits.end());
  if (params_.repeat_penalty != 1.0f && params_.repeat_last_n != 0) {
    const size_t window = params_.repeat_last_n < 0 ? history.size() : std::min<size_t>(history.size(), params_.repeat_last_n);
    std::vector<bool> seen(n_vocab, false);
    for (int32_t id : history.subspan(history.size() - window)) {
      if (id < 0 || static_cast<size_t>(id) >= n_vocab || seen[id]) continue;
      seen[id] = true;
      work_[id] = work_[id] > 0 ? work_[id] / params_.repeat_penalty : work_[id] * params_.repeat_penalty;
    }
  }
  if (const size_t n = static_cast<size_t>(std::max(0, params_.no_repeat_ngram_size)); n > 0 && history.size() + 1 >= n) {
    // The last n-1 tokens form a prefix; every earlier occurrence of it bans the token that followed.
    const auto prefix = history.subspan(history.size() - (n - 1));
    for (size_t start = 0; start + n <= history.size(); ++start) {
      if (std::equal(prefix.begin(), prefix.end(), history.begin() + static_cast<ptrdiff_t>(start))) {
        const int32_t banned = history[start + n - 1];
        if (banned >= 0 && static_cast<size_t>(banned) < n_vocab) work_[banned] = -INFINITY;
      }
    }
  }
  if (params_.temperature <= 0.0f) return argmax(work_);

  ids_.resize(n_vocab);
  std::iota(ids_.begin(), ids_.end(), 0);
  auto by_logit = [&](int32_t a, int32_t b) { return work_[a] > work_[b] || (work_[a] == work_[b] && a < b); };
  size_t keep = n_vocab;
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < keep) keep = params_.top_k;
  std::partial_sort(ids_.begin(), ids_.begin() + static_cast<ptrdiff_t>(keep), ids_.end(), by_logit);
  ids_.resize(keep);
  // Probabilities at temperature 1 for the nucleus and min-p cuts (as llama.cpp's chain computes them).
  auto softmax = [&](float temperature) {
    std::vector<double> p(ids_.size());
    const double max_logit = work_[ids_[0]];
    double sum = 0;
    for (size_t i = 0; i < ids_.size(); ++i) {
      p[i] = std::exp((work_[ids_[i]] - max_logit) / temperature);
      sum += p[i];
    }
    for (auto& v : p) v /= sum;
    return p;
  };
  if (params_.top_p < 1.0f) {
    const auto p = softmax(1.0f);
    double cum = 0;
    size_t cut = ids_.size();
    for (size_t i = 0; i < p.size(); ++i) {
      cum += p[i];
      if (cum >= params_.top_p) {
        cut = i + 1;
        break;
      }
    }
    ids_.resize(std::max<size_t>(1, cut));
  }
  if (params_.min_p > 0.0f) {
    const auto p = softmax(1.0f);
    size_t cut = 1;
    while (cut < p.size() && p[cut] >= params_.min_p * p[0]) ++cut;
    ids_.resize(cut);
  }
  if (std::isinf(work_[ids_[0]]) && work_[ids_[0]] < 0) return argmax(work_);  // everything banned
  const auto p = softmax(params_.temperature);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  double r = uniform(rng_), cum = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    cum += p[i];
    if (r < cum) return ids_[i];
  }
  return ids_.back();
}

}  // namespace ckpt::runtime
