// Prompt batches (many tokens) against block-quantized weights with AVX-512 VNNI (Q8_0 and Q4_0 as
// stored; the other block types requantized to Q8_0 per tile). Each thread expands a
// tile of 4 weight rows once into plain int8 (in element order) and reuses it for every token, so the
// inner step is one VNNI instruction per 64 weights per (row, token) plus the block scales:
//   sum_b dw_b dx_b sum_i w_i x_i, computed as sum_i w_i (x_i + 128) - 128 sum_i w_i
// because VNNI multiplies unsigned by signed bytes. Two 32-blocks share one 512-bit register; lanes
// 0-7 hold the first block's partial sums, lanes 8-15 the second's. Compiled with AVX-512 flags;
// callers check the CPU.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "quantize/ggml_blocks.h"
#include "quantize/quantize.h"
#include "runtime/dot.h"
#include "runtime/prefill.h"

namespace ckpt::runtime {
namespace {

constexpr size_t kTokens = 4;  // tokens per inner step (16 accumulators for 4 rows)

inline __m512 pair_scale(float a, float b) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(a)), _mm256_set1_ps(b), 1);
}

// One 4-row tile expanded: int8 weights in element order, -128 * (sums of 4 weights) per lane, and
// the per-pair weight scales.
struct ExpandedTile {
  std::vector<int8_t> w;        // 4 * cols
  std::vector<int32_t> neg_c;  // 4 * pairs * 16 lanes
  std::vector<float> dw;       // 4 * pairs * 16 lanes

  std::vector<float> row_f32;
  std::vector<BlockQ8_0> row_q8;

  void expand(const Weight& w_in, uint64_t r0) {
    const size_t cols = w_in.cols, pairs = cols / 64;
    const bool requantize = w_in.dtype != DType::Q8_0 && w_in.dtype != DType::Q4_0;
    if (requantize) {
      row_f32.resize(cols);
      row_q8.resize(cols / 32);
    }
    w.resize(4 * cols);
    neg_c.resize(4 * pairs * 16);
    dw.resize(4 * pairs * 16);
    for (size_t i = 0; i < 4; ++i) {
      const std::byte* row = w_in.data + (r0 + i) * w_in.row_bytes;
      if (requantize) {
        // Other block types (K-quants, IQ4_NL, Q4_1, Q5_*) go through Q8_0: 8 bits per weight add
        // ~0.4% of the block maximum, well below what 4-6-bit storage already lost.
        decode_to_f32(w_in.dtype, {row, w_in.row_bytes}, row_f32);
        quantize_q8_0(row_f32, std::as_writable_bytes(std::span(row_q8)));
        row = reinterpret_cast<const std::byte*>(row_q8.data());
      }
      int8_t* out = w.data() + i * cols;
      float d[2];
      for (size_t b = 0; b < cols / 32; ++b) {
        if (w_in.dtype != DType::Q4_0) {
          const auto* blk = reinterpret_cast<const BlockQ8_0*>(row) + b;
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * 32), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs)));
          d[b % 2] = _cvtsh_ss(blk->d);
        } else {
          const auto* blk = reinterpret_cast<const BlockQ4_0*>(row) + b;
          const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
          const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0F));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * 32), _mm256_sub_epi8(q, _mm256_set1_epi8(8)));
          d[b % 2] = _cvtsh_ss(blk->d);
        }
        if (b % 2 == 1) _mm512_storeu_ps(&dw[(i * pairs + b / 2) * 16], pair_scale(d[0], d[1]));
      }
      for (size_t p = 0; p < pairs; ++p) {
        const __m512i wv = _mm512_loadu_si512(out + p * 64);
        const __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(128)), wv);
        _mm512_storeu_si512(&neg_c[(i * pairs + p) * 16], _mm512_sub_epi32(_mm512_setzero_si512(), c));
      }
    }
  }
};

// 4 rows x T tokens over all pairs; T is a template parameter so every loop unrolls and the 4*T
// accumulators stay in registers.
template <size_t T>
void tile_tokens(const ExpandedTile& tile, size_t pairs, size_t cols, const uint8_t* xu, const float* dx, size_t rows,
                 uint64_t r0, float* y) {
  __m512 acc[4][T];
  for (auto& row : acc) {
    for (auto& a : row) a = _mm512_setzero_ps();
  }
  const int8_t* w = tile.w.data();
  const int32_t* neg_c = tile.neg_c.data();
  const float* dw = tile.dw.data();
  for (size_t p = 0; p < pairs; ++p) {
    __m512i xv[T];
    __m512 dxv[T];
    for (size_t t = 0; t < T; ++t) {
      xv[t] = _mm512_loadu_si512(xu + t * cols + p * 64);
      dxv[t] = _mm512_loadu_ps(dx + (t * pairs + p) * 16);
    }
    for (size_t i = 0; i < 4; ++i) {
      const __m512i wv = _mm512_loadu_si512(w + i * cols + p * 64);
      const __m512i nc = _mm512_loadu_si512(neg_c + (i * pairs + p) * 16);
      const __m512 dwv = _mm512_loadu_ps(dw + (i * pairs + p) * 16);
      for (size_t t = 0; t < T; ++t) {
        acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(nc, xv[t], wv)), _mm512_mul_ps(dwv, dxv[t]), acc[i][t]);
      }
    }
  }
  for (size_t t = 0; t < T; ++t) {
    for (size_t i = 0; i < 4; ++i) y[t * rows + r0 + i] = _mm512_reduce_add_ps(acc[i][t]);
  }
}

}  // namespace

bool prefill_avx512_handles(const Weight& w, size_t n_tokens) {
  if (w.bnb4 || w.cols % 64 != 0 || !cpu_supports_avx512_kernels()) return false;
  if (w.dtype == DType::Q8_0 || w.dtype == DType::Q4_0) return n_tokens >= 8;
  // Requantizing a tile costs about one pass over it: worth it once enough tokens share it.
  return is_block_quantized(w.dtype) && can_dequantize_from(w.dtype) && n_tokens >= 32;
}

void prefill_avx512(const Weight& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool) {
  const size_t cols = w.cols, pairs = cols / 64, rows = w.rows;
  // Activations: Q8_0 as ggml quantizes them, stored as x + 128 (unsigned) plus per-pair scales.
  std::vector<uint8_t> xu(n_tokens * cols);
  std::vector<float> dx(n_tokens * pairs * 16);
  std::vector<BlockQ8_0> blocks(cols / 32);
  for (size_t t = 0; t < n_tokens; ++t) {
    quantize_q8_0({x + t * cols, cols}, std::as_writable_bytes(std::span(blocks)));
    for (size_t b = 0; b < cols / 32; ++b) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b].qs));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(xu.data() + t * cols + b * 32), _mm256_xor_si256(q, _mm256_set1_epi8(static_cast<char>(0x80))));
    }
    for (size_t p = 0; p < pairs; ++p) {
      _mm512_storeu_ps(&dx[(t * pairs + p) * 16], pair_scale(_cvtsh_ss(blocks[2 * p].d), _cvtsh_ss(blocks[2 * p + 1].d)));
    }
  }
  const size_t tiles = rows / 4;
  std::atomic<size_t> next{0};
  pool.run([&](unsigned) {
    ExpandedTile tile;
    for (;;) {
      const size_t k = next.fetch_add(1, std::memory_order_relaxed);
      if (k >= tiles) return;
      const uint64_t r0 = k * 4;
      tile.expand(w, r0);
      for (size_t t0 = 0; t0 < n_tokens; t0 += kTokens) {
        const uint8_t* xt = xu.data() + t0 * cols;
        const float* dxt = dx.data() + t0 * pairs * 16;
        float* yt = y + t0 * rows;
        switch (std::min(kTokens, n_tokens - t0)) {
          case 4: tile_tokens<4>(tile, pairs, cols, xt, dxt, rows, r0, yt); break;
          case 3: tile_tokens<3>(tile, pairs, cols, xt, dxt, rows, r0, yt); break;
          case 2: tile_tokens<2>(tile, pairs, cols, xt, dxt, rows, r0, yt); break;
          default: tile_tokens<1>(tile, pairs, cols, xt, dxt, rows, r0, yt); break;
        }
      }
    }
  });
  // Rows past the last whole tile (rows % 4) take the per-row dots.
  if (rows % 4 != 0) {
    const DotFn dot = avx2_dot_for(w) ? avx2_dot_for(w) : scalar_dot_for(w);
    const ActFormat format = act_format_for(w);
    std::vector<std::byte> act(act_row_bytes(format, cols));
    for (size_t t = 0; t < n_tokens; ++t) {
      quantize_activation(format, x + t * cols, cols, act.data());
      for (size_t r = tiles * 4; r < rows; ++r) y[t * rows + r] = dot(w, r, act.data());
    }
  }
}

}  // namespace ckpt::runtime
