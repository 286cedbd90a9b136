#include "quantize/row_stream.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>

#include "formats/byte_sink.h"
#include "formats/float_convert.h"
#include "formats/parallel.h"
#include "quantize/quantize.h"

namespace ckpt {

namespace {

// A batch holds at most this much output and this much f32 input, so two batches stay in L3-sized
// memory and the writes are large.
constexpr uint64_t kBatchOutputBytes = uint64_t{8} << 20;
constexpr uint64_t kBatchInputF32Bytes = uint64_t{16} << 20;

// Output buffers reused for the whole run and never zero-filled: every byte is written before it is
// read (a fresh zeroed vector per tensor cost ~10% of a conversion in memset).
std::span<std::byte> scratch(int which, uint64_t bytes) {
  static thread_local std::unique_ptr<std::byte[]> buffers[2];
  static thread_local uint64_t capacity[2] = {0, 0};
  if (bytes > capacity[which]) {
    buffers[which].reset(new std::byte[bytes]);
    capacity[which] = bytes;
  }
  return {buffers[which].get(), bytes};
}

}  // namespace

RowStreamStats stream_rows(const RowStream& s, unsigned threads, ByteSink& sink, ProgressBar* progress) {
  RowStreamStats stats;
  if (s.n_rows == 0 || s.row_len == 0) return stats;
  const uint64_t in_row = *dtype_bytes_for(s.src_dtype, s.row_len);
  const uint64_t out_row = *dtype_bytes_for(s.out_dtype, s.row_len);
  const bool same_dtype = s.src_dtype == s.out_dtype && !s.stats && !s.transform;
  // Narrowing into F16 is checked for values that do not fit (convert refuses them unless allowed).
  const bool count_f16 = s.out_dtype == DType::F16 && (s.src_dtype != DType::F16 || s.transform);
  if (same_dtype && !s.source_row && s.file) {
    sink.write_from(*s.file, s.src.first(s.n_rows * in_row));
    if (progress) progress->add(s.n_rows * in_row);
    return stats;
  }
  const uint64_t rows_per_batch = std::max<uint64_t>(
      1, std::min(kBatchOutputBytes / std::max<uint64_t>(1, out_row), kBatchInputF32Bytes / (s.row_len * 4)));
  const uint64_t batch_rows = std::min(s.n_rows, rows_per_batch);
  const std::span<std::byte> buffers[2] = {scratch(0, batch_rows * out_row), scratch(1, batch_rows * out_row)};
  std::mutex stats_mutex;
  std::future<void> pending;  // the write of the previous batch
  int current = 0;
  for (uint64_t first = 0; first < s.n_rows; first += rows_per_batch) {
    const uint64_t n = std::min(rows_per_batch, s.n_rows - first);
    const std::span<std::byte> out = buffers[current];
    // Threads pay off from ~64 KiB of output; below that a batch is converted inline.
    const unsigned batch_threads = n >= 4 && n * out_row >= (uint64_t{1} << 16) ? threads : 1;
    parallel_for(n, batch_threads, [&](size_t begin, size_t end) {
      std::vector<float> x(same_dtype ? 0 : s.row_len), y(s.stats ? s.row_len : 0);
      const bool transform = static_cast<bool>(s.transform);
      double local_sq = 0, local_max = 0;
      uint64_t local_nonfinite = 0;
      for (size_t i = begin; i < end; ++i) {
        const uint64_t row = s.source_row ? s.source_row(first + i) : first + i;
        const auto in = s.src.subspan(row * in_row, in_row);
        const std::span<std::byte> dst = out.subspan(i * out_row, out_row);
        if (same_dtype) {
          std::memcpy(dst.data(), in.data(), in_row);
          continue;
        }
        std::span<const float> values;
        if (s.src_dtype == DType::BF16 && s.out_dtype == DType::F16 && !s.stats && !transform) {
          // SAFETY: uint16 views of mapped bytes; 2-byte dtypes start 2-aligned in safetensors and GGUF.
          convert_bf16_to_f16({reinterpret_cast<const uint16_t*>(in.data()), s.row_len},
                              {reinterpret_cast<uint16_t*>(dst.data()), s.row_len});
          local_nonfinite += count_f16_nonfinite(dst);
          continue;
        }
        if (s.src_dtype == DType::F32 && !transform && reinterpret_cast<uintptr_t>(in.data()) % alignof(float) == 0) {
          // SAFETY: aligned whole floats of the mapped file: read in place.
          values = {reinterpret_cast<const float*>(in.data()), s.row_len};
        } else {
          decode_to_f32(s.src_dtype, in, x);
          if (transform) s.transform(first + i, x);
          values = x;
        }
        if (s.importance) {
          encode_row_weighted(s.out_dtype, values, s.importance(first + i), dst);
        } else {
          encode_from_f32(s.out_dtype, values, dst);
        }
        if (count_f16) local_nonfinite += count_f16_nonfinite(dst);
        if (s.stats) {
          decode_to_f32(s.out_dtype, dst, y);
          for (uint64_t k = 0; k < s.row_len; ++k) {
            const double d = static_cast<double>(values[k]) - static_cast<double>(y[k]);
            local_sq += d * d;
            local_max = std::max(local_max, std::fabs(d));
          }
        }
      }
      if (s.stats || local_nonfinite) {
        std::lock_guard lock(stats_mutex);
        stats.sq_sum += local_sq;
        stats.max_abs = std::max(stats.max_abs, local_max);
        stats.f16_nonfinite += local_nonfinite;
      }
    });
    if (pending.valid()) pending.get();  // the other buffer is free again; a write error surfaces here
    pending = std::async(std::launch::async, [&sink, progress, out, n, out_row, in_row] {
      sink.write(out.first(n * out_row));
      if (progress) progress->add(n * in_row);
    });
    current ^= 1;
  }
  pending.get();
  return stats;
}

}  // namespace ckpt
