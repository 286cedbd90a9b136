// Picks the next token from logits. The order is llama.cpp's default chain: repetition penalty and
// n-gram ban, then top-k, top-p, min-p, temperature, and a seeded draw; temperature <= 0 is greedy
// (argmax after the penalties, first index on ties).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace ckpt::runtime {

struct SamplingParams {
  float temperature = 0.8f;
  int top_k = 40;               // <= 0: off
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off; > 1 discourages tokens seen in the last repeat_last_n
  int repeat_last_n = 64;
  int no_repeat_ngram_size = 0;  // > 0: never complete an n-gram that already occurred
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // `history` is every token so far (prompt and generated), for the penalties.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<float> work_;
  std::vector<int32_t> ids_;
};

int32_t argmax(std::span<const float> logits);

}  // namespace ckpt::runtime
