// Streams one tensor from its source bytes to its GGUF bytes: row permutation or transpose, dtype
// conversion (via f32, exact for the float types) and quantization, in bounded memory.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "formats/architecture.h"
#include "formats/gguf_view.h"
#include "formats/model_source.h"
#include "formats/progress.h"

namespace ckpt {

struct TensorJob {
  std::string out_name;
  std::vector<uint64_t> ne;  // GGUF dims, ne[0] innermost
  DType out_dtype = DType::F32;
  const SourceTensor* source = nullptr;
  TensorOp op = TensorOp::None;
  uint64_t permute_heads = 0;  // n_head for PermuteQ, n_head_kv for PermuteK
};


// Tensors whose values did not fit f16 (inf or NaN after narrowing), shared by the writers of one
// conversion. Refuses (throws, naming the tensor and the count) unless `allow`.
struct F16Overflow {
  bool allow = false;
  std::mutex mutex;
  std::vector<std::pair<std::string, uint64_t>> tensors;
  void record(const SourceTensor& src, const std::string& out_name, uint64_t count);
};

// A data writer for the GGUF writer. `threads` workers convert rows in blocks of ~8 MiB of output;
// the source pages are released after the tensor is written.
TensorDataWriter make_tensor_writer(const TensorJob& job, unsigned threads, ProgressBar* progress, F16Overflow* overflow = nullptr);

// Reverse direction (GGUF -> safetensors): writes the tensor in PyTorch layout as `out_dtype`,
// undoing the permutation (`op` as stored) or transpose.
TensorDataWriter make_tensor_writer_to_hf(const SourceTensor& gguf_tensor, TensorOp op, uint64_t permute_heads,
                                          DType out_dtype, unsigned threads, ProgressBar* progress);

}  // namespace ckpt
