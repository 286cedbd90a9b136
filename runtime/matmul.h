// y = x W^T for a batch of activation rows: y[t * w.rows + r] = dot(w.row(r), x[t]).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/model.h"
#include <string>

#include "runtime/thread_pool.h"

namespace ckpt::runtime {

// Best: the fastest kernels this CPU has. Reference: the scalar dots.
enum class KernelChoice { Best, Reference };
// Process-wide: tests switch kernels to compare them.
void set_kernel_choice(KernelChoice choice);
KernelChoice kernel_choice();
// "avx2" or "scalar": what matmul will use for `w`.
const char* kernel_name(const Weight& w);
// The kernel families this CPU runs ("avx512-vnni tiles, avx2+fma dots" or "scalar"), for --version.
std::string cpu_kernels_summary();

void matmul(const Weight& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool);

// Row r of `w` decoded to f32 (every weight type, bitsandbytes 4-bit codes included; no adapters).
void decode_weight_row(const Weight& w, uint64_t r, std::span<float> out);

}  // namespace ckpt::runtime
