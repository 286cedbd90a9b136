// The prompt-batch path for block-quantized weights on AVX-512 VNNI CPUs (prefill_vnni.cpp).
#pragma once

#include <cstddef>

#include "runtime/model.h"
#include "runtime/thread_pool.h"

namespace ckpt::runtime {

bool prefill_avx512_handles(const Weight& w, size_t n_tokens);
// y[t * w.rows + r] for every row and token; x is n_tokens x w.cols f32.
void prefill_avx512(const Weight& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool);

}  // namespace ckpt::runtime
