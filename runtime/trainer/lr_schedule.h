// transformers' learning-rate schedules (optimization.py get_scheduler), as a pure function of the
// optimizer step: the rate used for step `step` (0-based) is base * lambda(step).
#pragma once

#include <cstdint>
#include <string>

namespace ckpt::runtime {

enum class LrSchedule { Linear, Cosine, Constant, ConstantWithWarmup };

// Throws Error(InvalidArgument) naming --lr_scheduler_type for other names.
LrSchedule parse_lr_schedule(const std::string& name);

double learning_rate_at(LrSchedule schedule, double base, uint64_t step, uint64_t warmup_steps, uint64_t total_steps);

}  // namespace ckpt::runtime
