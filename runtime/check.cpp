#include "runtime/check.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "formats/error.h"
#include "runtime/sampler.h"

namespace ckpt::runtime {
namespace {

std::vector<double> log_softmax(std::span<const float> logits) {
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits) sum += std::exp(v - max_logit);
  const double log_z = max_logit + std::log(sum);
  std::vector<double> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - log_z;
  return out;
}

}  // namespace

AgreementReport compare_logits(std::span<const float> a, std::span<const float> b, size_t n_vocab) {
  AgreementReport report;
  const size_t n = a.size() / n_vocab;
  size_t agree = 0;
  for (size_t p = 0; p < n; ++p) {
    const auto la = a.subspan(p * n_vocab, n_vocab), lb = b.subspan(p * n_vocab, n_vocab);
    PositionAgreement pos;
    for (size_t i = 0; i < n_vocab; ++i) pos.max_abs_diff = std::max(pos.max_abs_diff, std::fabs(double{la[i]} - lb[i]));
    const auto pa = log_softmax(la), pb = log_softmax(lb);
    for (size_t i = 0; i < n_vocab; ++i) pos.kl += std::exp(pa[i]) * (pa[i] - pb[i]);
    pos.kl = std::max(0.0, pos.kl);
    pos.top1_a = argmax(la);
    pos.top1_b = argmax(lb);
    pos.top1_equal = pos.top1_a == pos.top1_b;
    agree += pos.top1_equal;
    report.max_abs_diff = std::max(report.max_abs_diff, pos.max_abs_diff);
    report.max_kl = std::max(report.max_kl, pos.kl);
    report.mean_kl += pos.kl;
    report.positions.push_back(pos);
  }
  if (n > 0) {
    report.mean_kl /= static_cast<double>(n);
    report.top1_agreement = static_cast<double>(agree) / static_cast<double>(n);
  }
  return report;
}

AgreementReport check_agreement(Forward& a, Forward& b, std::span<const int32_t> tokens) {
  const auto& ha = a.model().hp;
  const auto& hb = b.model().hp;
  if (ha.n_vocab != hb.n_vocab) {
    throw Error(ErrorCode::InvalidArgument, b.model().path, Error::kNoOffset, "n_vocab",
                fmt::format("{} tokens here but {} in {}: the models cannot be compared position by position", hb.n_vocab,
                            ha.n_vocab, a.model().path));
  }
  a.reset();
  b.reset();
  const auto la = a.eval(tokens, true);
  const std::vector<float> copy(la.begin(), la.end());
  const auto lb = b.eval(tokens, true);
  return compare_logits(copy, lb, ha.n_vocab);
}

}  // namespace ckpt::runtime
