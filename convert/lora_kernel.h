// The merge's inner loop: one output row of B A (r products per element) added to a weight row.
// The scalar functions are the oracle of the AVX2/FMA ones (tests/convert/lora_kernel_test.cpp).
#pragma once

#include <cstdint>

namespace ckpt {

// s[i] = sum_k p[k] * q[k * cols + i] for i < cols (p: one row of B [r], q: A [r, cols]), in f32.
void lora_row_ref(const float* p, uint64_t r, const float* q, uint64_t cols, float* s);
void lora_row(const float* p, uint64_t r, const float* q, uint64_t cols, float* s);

// row[i] = row[i] + (sum_k p[k] q[k][i]) * scale: PEFT's W + (B A) * scaling, rounded as it rounds
// (the product scaled and rounded to f32, then added), without an intermediate buffer.
void lora_add_row_ref(const float* p, uint64_t r, const float* q, uint64_t cols, float scale, float* row);
void lora_add_row(const float* p, uint64_t r, const float* q, uint64_t cols, float scale, float* row);

// sum_i (a[i] - b[i])^2 (the merge report's ||delta||), f32 lanes summed in f64.
double squared_difference_ref(const float* a, const float* b, uint64_t n);
double squared_difference(const float* a, const float* b, uint64_t n);

}  // namespace ckpt
