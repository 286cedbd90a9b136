// Sampling against hand-computed expectations: penalties change the argmax as computed by hand, the
// truncations keep exactly the tokens the definitions name, and draws follow softmax(logits / T).
#include <cmath>
#include <map>

#include "runtime/sampler.h"
#include "tests/support/test_support.h"

namespace ckpt::runtime {
namespace {

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}

TEST(Sampler, GreedyIsTheFirstLargestLogit) {
  Sampler s(greedy());
  const std::vector<float> logits = {0.5f, 2.0f, 2.0f, -1.0f};
  EXPECT_EQ(s.sample(logits, {}), 1);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  auto p = greedy();
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  // Token 0 seen: 2.0 -> 1.0, now below token 1's 1.5.
  EXPECT_EQ(s.sample(std::vector<float>{2.0f, 1.5f, -1.0f}, std::vector<int32_t>{0}), 1);
  // Token 1 seen with a negative logit: -0.4 -> -0.8, below token 2's -0.5.
  EXPECT_EQ(s.sample(std::vector<float>{-3.0f, -0.4f, -0.5f}, std::vector<int32_t>{1}), 2);
  // Outside the window it does not apply.
  p.repeat_last_n = 1;
  Sampler windowed(p);
  EXPECT_EQ(windowed.sample(std::vector<float>{2.0f, 1.5f, -1.0f}, std::vector<int32_t>{0, 2}), 0);
}

TEST(Sampler, NoRepeatNgramBansTheTokenThatWouldRepeatOne) {
  auto p = greedy();
  p.no_repeat_ngram_size = 2;
  Sampler s(p);
  // History 5 7 5: the bigram (5, 7) exists, so after the last 5, token 7 is banned.
  std::vector<float> logits(10, 0.0f);
  logits[7] = 3.0f;
  logits[2] = 1.0f;
  EXPECT_EQ(s.sample(logits, std::vector<int32_t>{5, 7, 5}), 2);
  // With a different last token nothing is banned.
  EXPECT_EQ(s.sample(logits, std::vector<int32_t>{5, 7, 4}), 7);
}

// Frequencies of many draws.
std::map<int32_t, double> frequencies(const SamplingParams& p, const std::vector<float>& logits, int draws) {
  Sampler s(p);
  std::map<int32_t, double> f;
  for (int i = 0; i < draws; ++i) f[s.sample(logits, {})] += 1.0 / draws;
  return f;
}

// Logits whose softmax is exactly 0.5 / 0.3 / 0.2.
const std::vector<float> kThree = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};

SamplingParams plain(float temperature) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = test::test_seed();
  return p;
}

TEST(Sampler, DrawsFollowTheSoftmaxAtTemperature) {
  constexpr int kDraws = 40000;  // standard error of a frequency <= 0.0025
  auto f = frequencies(plain(1.0f), kThree, kDraws);
  EXPECT_NEAR(f[0], 0.5, 0.015);
  EXPECT_NEAR(f[1], 0.3, 0.015);
  EXPECT_NEAR(f[2], 0.2, 0.015);
  // T = 2: p ~ sqrt(0.5), sqrt(0.3), sqrt(0.2), normalized.
  const double z = std::sqrt(0.5) + std::sqrt(0.3) + std::sqrt(0.2);
  f = frequencies(plain(2.0f), kThree, kDraws);
  EXPECT_NEAR(f[0], std::sqrt(0.5) / z, 0.015);
  EXPECT_NEAR(f[2], std::sqrt(0.2) / z, 0.015);
}

TEST(Sampler, TopKTopPAndMinPKeepWhatTheyName) {
  auto p = plain(1.0f);
  p.top_k = 1;
  EXPECT_EQ(frequencies(p, kThree, 2000).size(), 1u);
  p = plain(1.0f);
  p.top_p = 0.6f;  // 0.5 < 0.6 <= 0.5 + 0.3: tokens 0 and 1, renormalized to 5/8 and 3/8
  auto f = frequencies(p, kThree, 40000);
  EXPECT_EQ(f.count(2), 0u);
  EXPECT_NEAR(f[0], 0.625, 0.015);
  p = plain(1.0f);
  p.min_p = 0.5f;  // keep p >= 0.25: tokens 0 and 1
  f = frequencies(p, kThree, 20000);
  EXPECT_EQ(f.count(2), 0u);
  EXPECT_NEAR(f[1], 0.375, 0.015);  // 0.3 / 0.8
}

TEST(Sampler, TheSameSeedGivesTheSameDraws) {
  auto p = plain(1.0f);
  Sampler a(p), b(p);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.sample(kThree, {}), b.sample(kThree, {}));
}

}  // namespace
}  // namespace ckpt::runtime
