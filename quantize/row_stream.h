// The one loop every rewrite streams tensors through: rows of a source tensor (any dtype ckpt decodes)
// become rows of the output dtype, in batches of a few MiB on worker threads, while the batch before is
// written to the sink (double-buffered, so computing and writing overlap). convert (HF -> GGUF with the
// Q/K permutation, GGUF -> HF with its inverse) and quantize (GGUF block types, with error statistics)
// call it; a new transform adds a row mapping or a dtype, not another loop.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "formats/dtype.h"
#include "formats/progress.h"

namespace ckpt {

class ByteSink;
class MappedFile;

struct RowStream {
  std::span<const std::byte> src;  // the whole source tensor, row-major
  DType src_dtype = DType::F32;
  DType out_dtype = DType::F32;
  uint64_t row_len = 0;  // elements per row (GGUF ne[0])
  uint64_t n_rows = 0;
  // Output row r comes from source row source_row(r) (a permutation); empty: the identity.
  std::function<uint64_t(uint64_t)> source_row;
  bool stats = false;  // measure the round-trip error of each row (quantize --stats)
  // Changes each row's f32 values (output row index, values) before they are encoded: how a LoRA merge
  // adds its delta while the tensor streams. Called from worker threads; must be thread-safe.
  std::function<void(uint64_t, std::span<float>)> transform;
  // The importance (imatrix) row for output row r, one value per column: rows are then encoded with the
  // type's importance-weighted quantizer. Called from worker threads.
  std::function<std::span<const float>(uint64_t)> importance;
  // The mapped file holding `src`, when it is one: bytes that pass through unchanged (same dtype, rows
  // in order) are then copied in the kernel (copy_file_range) instead of through user space.
  const MappedFile* file = nullptr;
};

struct RowStreamStats {
  double sq_sum = 0;   // sum of squared (input - dequantized output)
  double max_abs = 0;  // largest |input - dequantized output|
  uint64_t f16_nonfinite = 0;  // narrowing to F16: values written as inf or NaN (|x| > 65504, or NaN in)
};

// Writes exactly n_rows * (bytes of row_len out_dtype elements) to `sink`. Same-dtype rows are copied,
// bf16 -> f16 goes through the exact F16C path, everything else via f32.
RowStreamStats stream_rows(const RowStream& stream, unsigned threads, ByteSink& sink, ProgressBar* progress);

}  // namespace ckpt
