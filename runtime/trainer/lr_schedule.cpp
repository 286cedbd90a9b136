#include "runtime/trainer/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "formats/error.h"

namespace ckpt::runtime {

LrSchedule parse_lr_schedule(const std::string& name) {
  if (name == "linear") return LrSchedule::Linear;
  if (name == "cosine") return LrSchedule::Cosine;
  if (name == "constant") return LrSchedule::Constant;
  if (name == "constant_with_warmup") return LrSchedule::ConstantWithWarmup;
  throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--lr_scheduler_type",
              "'" + name + "' is not one of linear, cosine, constant, constant_with_warmup");
}

double learning_rate_at(LrSchedule schedule, double base, uint64_t step, uint64_t warmup, uint64_t total) {
  const double s = static_cast<double>(step), w = static_cast<double>(warmup), t = static_cast<double>(total);
  if (schedule == LrSchedule::Constant) return base;
  if (step < warmup) return base * s / std::max(1.0, w);
  switch (schedule) {
    case LrSchedule::Linear:
      return base * std::max(0.0, (t - s) / std::max(1.0, t - w));
    case LrSchedule::Cosine: {  // num_cycles 0.5: half a cosine from base down to 0
      const double progress = (s - w) / std::max(1.0, t - w);
      return base * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * 2.0 * 0.5 * progress)));
    }
    default:
      return base;
  }
}

}  // namespace ckpt::runtime
