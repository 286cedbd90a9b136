#include "convert/tensor_convert.h"

#include <cstring>
#include <memory>

#include "formats/parallel.h"
#include "convert/permute.h"
#include "formats/float_convert.h"
#include "formats/byte_sink.h"
#include "quantize/quantize.h"

namespace ckpt {

namespace {

constexpr uint64_t kBlockOutputBytes = uint64_t{8} << 20;

[[noreturn]] void fail(const SourceTensor& s, const std::string& detail) {
  throw Error(ErrorCode::Unsupported, s.file ? s.file->path() : "", Error::kNoOffset, "tensor '" + s.name + "'", detail);
}

struct RowLayout {
  uint64_t row_len;  // elements per row (GGUF ne[0])
  uint64_t n_rows;
};

// Writes rows [0, n_rows) of the output, each produced from source row `source_row(r)`.
void stream_rows(const SourceTensor& src, DType out_dtype, RowLayout layout,
                 const std::function<uint64_t(uint64_t)>& source_row, unsigned threads, ByteSink& sink,
                 ProgressBar* progress) {
  const uint64_t in_row_bytes = *dtype_bytes_for(src.dtype, layout.row_len);
  const uint64_t out_row_bytes = *dtype_bytes_for(out_dtype, layout.row_len);
  const bool same_dtype = src.dtype == out_dtype;
  const uint64_t rows_per_block = std::max<uint64_t>(1, kBlockOutputBytes / std::max<uint64_t>(1, out_row_bytes));
  // One output buffer for the whole run, never zero-filled: every byte is written before it is read
  // (a fresh zeroed 8 MiB vector per tensor cost ~10% of a conversion in memset).
  static thread_local std::unique_ptr<std::byte[]> buffer;
  static thread_local uint64_t capacity = 0;
  const uint64_t needed = std::min(layout.n_rows, rows_per_block) * out_row_bytes;
  if (needed > capacity) {
    buffer.reset(new std::byte[needed]);
    capacity = needed;
  }
  const std::span<std::byte> out(buffer.get(), needed);
  for (uint64_t first = 0; first < layout.n_rows; first += rows_per_block) {
    const uint64_t n = std::min(rows_per_block, layout.n_rows - first);
    // Threads pay off from ~64 KiB of output; below that a block is converted inline.
    parallel_for(n, n >= 64 && n * out_row_bytes >= (uint64_t{1} << 16) ? threads : 1, [&](size_t begin, size_t end) {
      std::vector<float> f32(same_dtype ? 0 : layout.row_len);
      for (size_t i = begin; i < end; ++i) {
        const auto in = src.data.subspan(source_row(first + i) * in_row_bytes, in_row_bytes);
        const std::span<std::byte> dst(out.data() + i * out_row_bytes, out_row_bytes);
        if (same_dtype) {
          std::memcpy(dst.data(), in.data(), in_row_bytes);
        } else if (src.dtype == DType::BF16 && out_dtype == DType::F16) {
          // SAFETY: uint16 views of mapped bytes; safetensors data of a 2-byte dtype starts 2-aligned
          // whenever the header is 8-padded, and x86 tolerates the rest.
          convert_bf16_to_f16({reinterpret_cast<const uint16_t*>(in.data()), layout.row_len},
                              {reinterpret_cast<uint16_t*>(dst.data()), layout.row_len});
        } else {
          decode_to_f32(src.dtype, in, f32);
          encode_from_f32(out_dtype, f32, dst);
        }
      }
    });
    sink.write(std::span(out).first(n * out_row_bytes));
    if (progress) progress->add(n * in_row_bytes);
  }
}

std::vector<float> decode_all(const SourceTensor& src) {
  const uint64_t numel = *shape_numel(src.shape);
  std::vector<float> f32(numel);
  decode_to_f32(src.dtype, src.data, f32);
  return f32;
}

void write_transposed(const SourceTensor& src, DType out_dtype, ByteSink& sink, ProgressBar* progress) {
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
}

void check_convertible(const SourceTensor& src, DType out_dtype) {
  if (src.dtype != out_dtype && !can_dequantize_from(src.dtype)) {
    fail(src, "cannot convert " + std::string(dtype_name(src.dtype)) + " (only float tensors are converted)");
  }
  if (src.dtype != out_dtype && !can_quantize_to(out_dtype)) fail(src, "cannot write " + std::string(dtype_name(out_dtype)));
}

}  // namespace

std::vector<uint64_t> gguf_dims_after(const SourceTensor& source, TensorOp op) {
  std::vector<uint64_t> ne(source.shape.rbegin(), source.shape.rend());
  if (op == TensorOp::Transpose && ne.size() == 2) std::swap(ne[0], ne[1]);
  if (ne.empty()) ne.push_back(1);  // ggml stores a scalar as one element of n_dims 1
  return ne;
}

TensorDataWriter make_tensor_writer(const TensorJob& job, unsigned threads, ProgressBar* progress) {
  check_convertible(*job.source, job.out_dtype);
  return [job, threads, progress](ByteSink& sink) {
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
    if (job.op == TensorOp::Transpose) {
      write_transposed(src, job.out_dtype, sink, progress);
    } else if (job.op == TensorOp::PermuteQ || job.op == TensorOp::PermuteK) {
      const uint64_t n_rows = src.shape.empty() ? 1 : src.shape[0];
      if (job.permute_heads == 0 || n_rows % (2 * job.permute_heads) != 0) {
        fail(src, std::to_string(n_rows) + " rows cannot be split into " + std::to_string(job.permute_heads) + " rope heads");
      }
      const uint64_t row_len = src.shape.size() >= 2 ? *shape_numel(std::span(src.shape).subspan(1)) : 1;
      stream_rows(src, job.out_dtype, {row_len, n_rows},
                  [&](uint64_t r) { return hf_row_for_gguf_row(r, n_rows, job.permute_heads); }, threads, sink, progress);
    } else {
      const uint64_t numel = *shape_numel(src.shape);
      const uint64_t row_len = job.ne[0];
      stream_rows(src, job.out_dtype, {row_len, row_len ? numel / row_len : 0}, [](uint64_t r) { return r; }, threads,
                  sink, progress);
    }
    if (src.file) src.file->release(src.data);
  };
}

TensorDataWriter make_tensor_writer_to_hf(const SourceTensor& g, TensorOp op, uint64_t permute_heads, DType out_dtype,
                                          unsigned threads, ProgressBar* progress) {
  check_convertible(g, out_dtype);
  return [g, op, permute_heads, out_dtype, threads, progress](ByteSink& sink) {
    // `g.shape` is already the PyTorch order of the GGUF tensor (ne reversed).
    if (op == TensorOp::Transpose) {
      write_transposed(g, out_dtype, sink, progress);
    } else if (op == TensorOp::PermuteQ || op == TensorOp::PermuteK) {
      const uint64_t n_rows = g.shape.empty() ? 1 : g.shape[0];
      const uint64_t row_len = g.shape.size() >= 2 ? *shape_numel(std::span(g.shape).subspan(1)) : 1;
      if (permute_heads == 0 || n_rows % (2 * permute_heads) != 0) fail(g, "rows do not split into rope heads");
      stream_rows(g, out_dtype, {row_len, n_rows}, [&](uint64_t r) { return gguf_row_for_hf_row(r, n_rows, permute_heads); },
                  threads, sink, progress);
    } else {
      const uint64_t numel = *shape_numel(g.shape);
      const uint64_t row_len = g.shape.empty() ? 1 : g.shape.back();
      stream_rows(g, out_dtype, {row_len, row_len ? numel / row_len : 0}, [](uint64_t r) { return r; }, threads, sink, progress);
    }
    if (g.file) g.file->release(g.data);
  };
}

}  // namespace ckpt
