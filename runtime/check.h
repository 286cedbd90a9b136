// `ckpt run --check`: the same token sequence through two models (an HF source and its GGUF, f16 and
// q4_k, ...) and how closely their next-token distributions agree at every position.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/forward.h"

namespace ckpt::runtime {

struct PositionAgreement {
  double max_abs_diff = 0;  // largest |logit_a - logit_b|
  double kl = 0;            // KL(P_a || P_b) in nats
  bool top1_equal = false;
  int32_t top1_a = -1, top1_b = -1;
};

struct AgreementReport {
  std::vector<PositionAgreement> positions;
  double max_abs_diff = 0, mean_kl = 0, max_kl = 0, top1_agreement = 0;
};

// Per-position agreement of two logit matrices (n_positions x n_vocab, token-major).
AgreementReport compare_logits(std::span<const float> a, std::span<const float> b, size_t n_vocab);

// Evaluates `tokens` on both forwards (from empty caches) and compares all positions.
AgreementReport check_agreement(Forward& a, Forward& b, std::span<const int32_t> tokens);

}  // namespace ckpt::runtime
