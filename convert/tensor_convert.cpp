#include "convert/tensor_convert.h"

#include <cstring>

#include "formats/architecture.h"
#include "formats/parallel.h"
#include "formats/permute.h"
#include "formats/float_convert.h"
#include "formats/byte_sink.h"
#include "quantize/quantize.h"
#include "quantize/row_stream.h"

namespace ckpt {

namespace {

[[noreturn]] void fail(const SourceTensor& s, const std::string& detail) {
  throw Error(ErrorCode::Unsupported, s.file ? s.file->path() : "", Error::kNoOffset, "tensor '" + s.name + "'", detail);
}

// A tensor's rows through the shared row streamer (quantize/row_stream.h).
RowStreamStats stream_tensor_rows(const SourceTensor& src, DType out_dtype, uint64_t row_len, uint64_t n_rows,
                        std::function<uint64_t(uint64_t)> source_row, unsigned threads, ByteSink& sink, ProgressBar* progress,
                        std::function<void(uint64_t, std::span<float>)> transform = {}) {
  RowStream stream;
  stream.transform = std::move(transform);
  stream.src = src.data;
  stream.src_dtype = src.dtype;
  stream.out_dtype = out_dtype;
  stream.row_len = row_len;
  stream.n_rows = n_rows;
  stream.source_row = std::move(source_row);
  stream.file = src.file.get();
  return stream_rows(stream, threads, sink, progress);
}

std::vector<float> decode_all(const SourceTensor& src) {
  const uint64_t numel = *shape_numel(src.shape);
  std::vector<float> f32(numel);
  decode_to_f32(src.dtype, src.data, f32);
  return f32;
}

uint64_t write_transposed(const SourceTensor& src, DType out_dtype, ByteSink& sink, ProgressBar* progress) {
  if (src.shape.size() != 2) fail(src, "only 2-D tensors can be transposed");
  const uint64_t rows = src.shape[0], cols = src.shape[1];
  const auto in = decode_all(src);
  std::vector<float> t(in.size());
  for (uint64_t r = 0; r < rows; ++r) {
    for (uint64_t c = 0; c < cols; ++c) t[c * rows + r] = in[r * cols + c];
  }
  std::vector<std::byte> out(*dtype_bytes_for(out_dtype, t.size()));
  for (uint64_t c = 0; c < cols; ++c) {  // row by row: block quantizers work per row
    const auto row_bytes = *dtype_bytes_for(out_dtype, rows);
    encode_from_f32(out_dtype, std::span(t).subspan(c * rows, rows), std::span(out).subspan(c * row_bytes, row_bytes));
  }
  sink.write(out);
  if (progress) progress->add(src.data.size());
  return out_dtype == DType::F16 ? count_f16_nonfinite(out) : 0;
}

void check_convertible(const SourceTensor& src, DType out_dtype) {
  if (src.dtype != out_dtype && !can_dequantize_from(src.dtype)) {
    fail(src, "cannot convert " + std::string(dtype_name(src.dtype)) + " (only float tensors are converted)");
  }
  if (src.dtype != out_dtype && !can_quantize_to(out_dtype)) fail(src, "cannot write " + std::string(dtype_name(out_dtype)));
}

// Gemma's norms (TensorOp::AddOne), one row at a time as they stream.
std::function<void(uint64_t, std::span<float>)> norm_shift(bool inverse, DType src_dtype) {
  return [inverse, src_dtype](uint64_t, std::span<float> row) { apply_add_one(row, src_dtype, inverse); };
}

}  // namespace

void F16Overflow::record(const SourceTensor& src, const std::string& out_name, uint64_t count) {
  if (!allow) {
    throw Error(ErrorCode::BadValue, src.file ? src.file->path() : "", src.offset_in_file(), "tensor '" + src.name + "'",
                std::to_string(count) + " value(s) do not fit f16 (|x| > 65504, or NaN) and would be written as inf/NaN; "
                "use --outtype bf16, f32 or auto, or --allow-overflow to write them anyway");
  }
  std::lock_guard lock(mutex);
  tensors.emplace_back(out_name, count);
}

TensorDataWriter make_tensor_writer(const TensorJob& job, unsigned threads, ProgressBar* progress, F16Overflow* overflow) {
  check_convertible(*job.source, job.out_dtype);
  return [job, threads, progress, overflow](ByteSink& sink) {
    if (progress) progress->set_status(job.out_name);
    // Quantized sources are dequantized now, one tensor at a time, and then treated as F32.
    std::vector<float> decoded;
    SourceTensor materialized;
    if (job.source->decode) {
      decoded = job.source->decode();
      materialized = *job.source;
      materialized.decode = nullptr;
      materialized.data = std::as_bytes(std::span(decoded));
      materialized.file = nullptr;
    }
    const SourceTensor& src = job.source->decode ? materialized : *job.source;
    uint64_t nonfinite = 0;
    if (job.op == TensorOp::Transpose) {
      nonfinite = write_transposed(src, job.out_dtype, sink, progress);
    } else if (reorders_rows(job.op)) {
      const uint64_t n_rows = src.shape.empty() ? 1 : src.shape[0];
      if (!rows_split(job.op, n_rows, job.permute_heads)) {
        fail(src, std::to_string(n_rows) + " rows cannot be split into " + std::to_string(job.permute_heads) + " heads");
      }
      const uint64_t row_len = src.shape.size() >= 2 ? *shape_numel(std::span(src.shape).subspan(1)) : 1;
      nonfinite = stream_tensor_rows(src, job.out_dtype, row_len, n_rows,
                                     [&](uint64_t r) { return hf_row_for(job.op, r, n_rows, job.permute_heads); }, threads, sink, progress)
                      .f16_nonfinite;
    } else {
      const uint64_t numel = *shape_numel(src.shape);
      const uint64_t row_len = job.ne[0];
      nonfinite = stream_tensor_rows(src, job.out_dtype, row_len, row_len ? numel / row_len : 0, {}, threads, sink, progress,
                                     job.op == TensorOp::AddOne ? norm_shift(false, src.dtype) : nullptr)
                      .f16_nonfinite;
    }
    if (src.file) src.file->release(src.data);
    if (nonfinite && overflow) overflow->record(*job.source, job.out_name, nonfinite);
  };
}

TensorDataWriter make_tensor_writer_to_hf(const SourceTensor& g, TensorOp op, uint64_t permute_heads, DType out_dtype,
                                          unsigned threads, ProgressBar* progress) {
  check_convertible(g, out_dtype);
  return [g, op, permute_heads, out_dtype, threads, progress](ByteSink& sink) {
    if (progress) progress->set_status(g.name);
    // `g.shape` is already the PyTorch order of the GGUF tensor (ne reversed).
    if (op == TensorOp::Transpose) {
      write_transposed(g, out_dtype, sink, progress);
    } else if (reorders_rows(op)) {
      const uint64_t n_rows = g.shape.empty() ? 1 : g.shape[0];
      const uint64_t row_len = g.shape.size() >= 2 ? *shape_numel(std::span(g.shape).subspan(1)) : 1;
      if (!rows_split(op, n_rows, permute_heads)) fail(g, "rows do not split into heads");
      stream_tensor_rows(g, out_dtype, row_len, n_rows, [&](uint64_t r) { return gguf_row_for(op, r, n_rows, permute_heads); },
                         threads, sink, progress);
    } else {
      const uint64_t numel = *shape_numel(g.shape);
      const uint64_t row_len = g.shape.empty() ? 1 : g.shape.back();
      stream_tensor_rows(g, out_dtype, row_len, row_len ? numel / row_len : 0, {}, threads, sink, progress,
                         op == TensorOp::AddOne ? norm_shift(true, g.dtype) : nullptr);
    }
    if (g.file) g.file->release(g.data);
  };
}

}  // namespace ckpt
