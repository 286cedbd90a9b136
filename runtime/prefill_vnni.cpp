// Prompt batches against block-quantized weights with AVX-512 VNNI. Each thread repacks a tile of 16
// weight rows once, interleaved so that one 512-bit register holds 4 consecutive weights of each of
// the 16 rows; one VNNI instruction with a token's 4 activations broadcast then advances all 16 rows'
// dot products (64 multiply-adds), and each 32-block's scales are applied to 16 rows at a time:
//   y[r] = sum_b dw[r,b] dx[b] (sum_i w[r,i] (x_i + 128) - 128 sum_i w[r,i])
// (+128 because VNNI multiplies unsigned by signed bytes). Q8_0 and Q4_0 are repacked as stored; other
// block types are dequantized and requantized to Q8_0 per tile. Callers check the CPU.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "quantize/ggml_blocks.h"
#include "quantize/quantize.h"
#include "runtime/dot.h"
#include "runtime/prefill.h"

namespace ckpt::runtime {
namespace {

constexpr size_t kRows = 16;

struct PackedTile {
  std::vector<int8_t> w;       // [block][group of 4][row][4]: blocks * 8 * 64 bytes
  std::vector<int32_t> neg_c;  // [block][row]: -128 * sum of the row's 32 weights in the block
  std::vector<float> dw;       // [block][row]
  std::vector<float> row_f32;
  std::vector<BlockQ8_0> row_q8;

  std::vector<int8_t> rows_q;  // [block][row][32]: the tile's weights before interleaving

  void pack(const Weight& weight, uint64_t r0, size_t n_rows) {
    const size_t blocks = weight.cols / 32;
    w.resize(blocks * 8 * 64);
    neg_c.resize(blocks * kRows);
    dw.assign(blocks * kRows, 0.0f);
    rows_q.assign(blocks * kRows * 32, 0);  // rows past the matrix stay zero
    const bool requantize = weight.dtype != DType::Q8_0 && weight.dtype != DType::Q4_0;
    row_f32.resize(weight.cols);
    row_q8.resize(blocks);
    for (size_t r = 0; r < n_rows; ++r) {
      const std::byte* row = weight.data + (r0 + r) * weight.row_bytes;
      if (requantize) {
        // ~0.4% of each block's maximum on top of what 4-6-bit storage already lost.
        decode_to_f32(weight.dtype, {row, weight.row_bytes}, row_f32);
        quantize_q8_0(row_f32, std::as_writable_bytes(std::span(row_q8)));
        row = reinterpret_cast<const std::byte*>(row_q8.data());
      }
      for (size_t b = 0; b < blocks; ++b) {
        __m256i q;
        if (weight.dtype == DType::Q4_0) {
          const auto* blk = reinterpret_cast<const BlockQ4_0*>(row) + b;
          const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
          q = _mm256_sub_epi8(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0F)),
                              _mm256_set1_epi8(8));
          dw[b * kRows + r] = _cvtsh_ss(blk->d);
        } else {
          const auto* blk = reinterpret_cast<const BlockQ8_0*>(row) + b;
          q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs));
          dw[b * kRows + r] = _cvtsh_ss(blk->d);
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(&rows_q[(b * kRows + r) * 32]), q);
      }
    }
    // Interleave: group g of block b gathers the 4-byte word g of each of the 16 rows; the same pass
    // sums each row's weights (x 128) for the unsigned-activation correction.
    const __m512i index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(8));
    const __m512i u128 = _mm512_set1_epi8(static_cast<char>(128));
    for (size_t b = 0; b < blocks; ++b) {
      const int8_t* src = &rows_q[b * kRows * 32];
      __m512i c = _mm512_setzero_si512();
      for (size_t g = 0; g < 8; ++g) {
        const __m512i wv = _mm512_i32gather_epi32(_mm512_add_epi32(index, _mm512_set1_epi32(static_cast<int>(g))), src, 4);
        _mm512_storeu_si512(&w[(b * 8 + g) * 64], wv);
        c = _mm512_dpbusd_epi32(c, u128, wv);
      }
      _mm512_storeu_si512(&neg_c[b * kRows], _mm512_sub_epi32(_mm512_setzero_si512(), c));
    }
  }
};

// 16 rows x T tokens; T is a template parameter so the 2*T accumulators stay in registers.
template <size_t T>
void tile_tokens(const PackedTile& tile, size_t blocks, size_t cols, const uint8_t* xu, const float* dx, float* y,
                 size_t y_stride, __mmask16 valid) {
  __m512 acc[T];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    __m512i iacc[T];
    const __m512i nc = _mm512_loadu_si512(&tile.neg_c[b * kRows]);
    for (size_t t = 0; t < T; ++t) iacc[t] = nc;
    const int8_t* wb = &tile.w[b * 8 * 64];
    for (size_t g = 0; g < 8; ++g) {
      const __m512i wv = _mm512_loadu_si512(wb + g * 64);
      for (size_t t = 0; t < T; ++t) {
        int32_t four;
        std::memcpy(&four, xu + t * cols + b * 32 + 4 * g, 4);
        iacc[t] = _mm512_dpbusd_epi32(iacc[t], _mm512_set1_epi32(four), wv);
      }
    }
    const __m512 dwv = _mm512_loadu_ps(&tile.dw[b * kRows]);
    for (size_t t = 0; t < T; ++t) {
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[t]), _mm512_mul_ps(dwv, _mm512_set1_ps(dx[t * blocks + b])), acc[t]);
    }
  }
  for (size_t t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * y_stride, valid, acc[t]);
}

}  // namespace

bool prefill_avx512_handles(const Weight& w, size_t n_tokens) {
  if (w.bnb4 || w.cols % 32 != 0 || !cpu_supports_avx512_kernels()) return false;
  if (w.dtype == DType::Q8_0 || w.dtype == DType::Q4_0) return n_tokens >= 8;
  // Requantizing a tile costs about one pass over it: worth it once enough tokens share it.
  return is_block_quantized(w.dtype) && can_dequantize_from(w.dtype) && n_tokens >= 32;
}

void prefill_avx512(const Weight& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool) {
  const size_t cols = w.cols, blocks = cols / 32, rows = w.rows;
  // Activations: Q8_0 as ggml quantizes them, stored as x + 128 (unsigned) and f32 scales. The
  // buffers persist across calls (fresh large allocations would fault in fresh pages every matmul);
  // workers reach this thread's buffers through the pointers, never by name.
  thread_local std::vector<uint8_t> xu_storage;
  thread_local std::vector<float> dx_storage;
  thread_local std::vector<BlockQ8_0> act;
  xu_storage.resize(n_tokens * cols);
  dx_storage.resize(n_tokens * blocks);
  act.resize(blocks);
  for (size_t t = 0; t < n_tokens; ++t) {
    quantize_q8_0({x + t * cols, cols}, std::as_writable_bytes(std::span(act)));
    for (size_t b = 0; b < blocks; ++b) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(act[b].qs));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(xu_storage.data() + t * cols + b * 32),
                          _mm256_xor_si256(q, _mm256_set1_epi8(static_cast<char>(0x80))));
      dx_storage[t * blocks + b] = _cvtsh_ss(act[b].d);
    }
  }
  const uint8_t* xu = xu_storage.data();
  const float* dx = dx_storage.data();
  const size_t tiles = (rows + kRows - 1) / kRows;
  std::atomic<size_t> next{0};
  pool.run([&](unsigned) {
    thread_local PackedTile tile;
    for (;;) {
      const size_t k = next.fetch_add(1, std::memory_order_relaxed);
      if (k >= tiles) return;
      const uint64_t r0 = k * kRows;
      const size_t n_rows = std::min(kRows, rows - r0);
      tile.pack(w, r0, n_rows);
      const __mmask16 valid = static_cast<__mmask16>((1u << n_rows) - 1);
      size_t t0 = 0;
      auto run = [&]<size_t T>() {
        for (; t0 + T <= n_tokens; t0 += T) tile_tokens<T>(tile, blocks, cols, xu + t0 * cols, dx + t0 * blocks, y + t0 * rows + r0, rows, valid);
      };
      run.template operator()<8>();
      run.template operator()<4>();
      run.template operator()<2>();
      run.template operator()<1>();
    }
  });
}

}  // namespace ckpt::runtime
