#include "runtime/matmul.h"

#include <algorithm>
#include <atomic>

#include "quantize/bnb4.h"
#include "quantize/quantize.h"
#include "runtime/dot.h"
#include "runtime/prefill.h"

namespace ckpt::runtime {
namespace {

std::atomic<KernelChoice> g_choice{KernelChoice::Best};

DotFn choose_dot(const Weight& w) {
  if (g_choice.load() == KernelChoice::Best && cpu_supports_avx2_kernels()) {
    if (DotFn f = avx2_dot_for(w)) return f;
  }
  return scalar_dot_for(w);
}

TileFn choose_tile(const Weight& w) {
  if (g_choice.load() != KernelChoice::Best) return nullptr;
  if (cpu_supports_avx512_kernels()) return avx512_tile_for(w);
  return cpu_supports_avx2_kernels() ? avx2_tile_for(w) : nullptr;
}

constexpr size_t kRowChunk = 16;    // rows a thread claims at a time
constexpr size_t kTokenTile = 32;   // activation rows kept hot while a row chunk is swept

}  // namespace

void set_kernel_choice(KernelChoice choice) { g_choice = choice; }
KernelChoice kernel_choice() { return g_choice.load(); }

std::string cpu_kernels_summary() {
  if (cpu_supports_avx512_kernels()) return "avx512-vnni prompt tiles, avx2+fma+f16c dots";
  if (cpu_supports_avx2_kernels()) return "avx2+fma+f16c tiles and dots";
  return "scalar (no avx2+fma+f16c on this CPU)";
}

const char* kernel_name(const Weight& w) {
  if (choose_tile(w)) return cpu_supports_avx512_kernels() ? "avx512" : "avx2";
  return choose_dot(w) == scalar_dot_for(w) ? "scalar" : "avx2";
}

namespace {

// run --lora: y_t += B (A x_t) per adapter, then DoRA's per-row factor. r is small (4..64), so this is
// 2 r (rows + cols) flops per token next to the product's rows * cols.
void apply_lora(const Weight& w, const float* x, size_t n_tokens, float* y) {
  std::vector<float> u;
  for (size_t t = 0; t < n_tokens; ++t) {
    const float* xt = x + t * w.cols;
    float* yt = y + t * w.rows;
    for (const auto& l : w.lora) {
      u.assign(l.r, 0.0f);
      const float* a = l.a->data();
      for (uint32_t k = 0; k < l.r; ++k) {
        float s = 0;
        for (uint64_t i = 0; i < w.cols; ++i) s += a[k * w.cols + i] * xt[i];
        u[k] = s;
      }
      const float* b = l.b->data();
      for (uint64_t o = 0; o < w.rows; ++o) {
        float s = 0;
        for (uint32_t k = 0; k < l.r; ++k) s += b[o * l.r + k] * u[k];
        yt[o] += s;
      }
    }
    if (w.dora_factor) {
      for (uint64_t o = 0; o < w.rows; ++o) yt[o] *= (*w.dora_factor)[o];
    }
  }
}

void matmul_weights(const Weight& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool);

}  // namespace

void decode_weight_row(const Weight& w, uint64_t r, std::span<float> out) {
  if (w.bnb4) {
    const auto row = w.row(r);
    dequantize_bnb4({reinterpret_cast<const uint8_t*>(row.data()), row.size()}, w.bnb4_absmax.subspan(r * (w.cols / w.bnb4_block), w.cols / w.bnb4_block),
                    w.bnb4_code, w.bnb4_block, out.first(w.cols));
    return;
  }
  decode_to_f32(w.dtype, w.row(r), out.first(w.cols));
}

void matmul(const Weight& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool) {
  matmul_weights(w, x, n_tokens, y, pool);
  if (!w.lora.empty() || w.dora_factor) apply_lora(w, x, n_tokens, y);
}

namespace {

void matmul_weights(const Weight& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool) {
  if (g_choice.load() == KernelChoice::Best && prefill_avx512_handles(w, n_tokens)) {
    prefill_avx512(w, x, n_tokens, y, pool);
    return;
  }
  const ActFormat format = act_format_for(w);
  const size_t act_bytes = act_row_bytes(format, w.cols);
  thread_local std::vector<std::byte> act_storage;
  const std::byte* act = reinterpret_cast<const std::byte*>(x);
  if (format != ActFormat::F32) {
    act_storage.resize(act_bytes * n_tokens);
    for (size_t t = 0; t < n_tokens; ++t) quantize_activation(format, x + t * w.cols, w.cols, act_storage.data() + t * act_bytes);
    act = act_storage.data();
  }
  const DotFn dot = choose_dot(w);
  const TileFn tile = choose_tile(w);
  const size_t rows = w.rows;
  // Decode streams the weights once: give each thread one contiguous range, so the hardware
  // prefetchers see long sequential runs. Batches are compute-bound: smaller chunks balance better.
  const size_t threads = pool.size();
  const size_t chunk = n_tokens <= 2 ? std::max<size_t>(kTileRows, (rows / threads + kTileRows - 1) / kTileRows * kTileRows)
                                     : kRowChunk;
  const size_t n_chunks = (rows + chunk - 1) / chunk;
  std::atomic<size_t> next{0};
  auto work = [&](unsigned) {
    for (;;) {
      const size_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= n_chunks) return;
      const size_t r0 = c * chunk, r1 = std::min(rows, r0 + chunk);
      for (size_t t0 = 0; t0 < n_tokens; t0 += kTokenTile) {
        const size_t t1 = std::min(n_tokens, t0 + kTokenTile);
        size_t r = r0;
        if (tile) {
          for (; r + kTileRows <= r1; r += kTileRows) {
            for (size_t t = t0; t < t1; t += 2) tile(w, r, act + t * act_bytes, act_bytes, std::min<size_t>(2, t1 - t), y + t * rows, rows);
          }
        }
        for (; r < r1; ++r) {
          for (size_t t = t0; t < t1; ++t) y[t * rows + r] = dot(w, r, act + t * act_bytes);
        }
      }
    }
  };
  if (n_chunks == 1) {
    work(0);
  } else {
    pool.run(work);
  }
}

}  // namespace

}  // namespace ckpt::runtime
