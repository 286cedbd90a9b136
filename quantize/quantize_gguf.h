// Quantizing model files: GGUF -> GGUF with llama-quantize's types and mixes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/dtype.h"
#include "formats/gguf_split.h"

namespace ckpt {

struct QuantizeOptions {
  std::string input;
  std::string output;
  std::string type;                        // llama-quantize name: Q4_K_M, Q8_0, ... (case-insensitive)
  bool pure = false;                       // every quantizable tensor gets the default type (no mix rules)
  std::vector<std::string> keep_patterns;  // glob patterns (* ?) of tensors to leave as stored
  bool allow_requantize = false;           // quantize tensors that are already quantized (lossy twice)
  bool stats = false;                      // measure RMSE / max abs error per tensor
  unsigned threads = 0;                    // 0: all cores
  bool progress = false;
  bool dry_run = false;
  uint64_t blocksize = 64;                 // bitsandbytes 4-bit block size
  bool force = false;                      // replace a non-empty output directory (bnb)
  GgufSplitLimits split;                   // GGUF output as a split set (llama.cpp's gguf-split layout)
  bool keep_split = false;                 // a split input gives a split output, shard for shard

  // llama-quantize's tensor choices.
  std::string imatrix;                          // llama.cpp importance matrix (GGUF or legacy .dat)
  std::vector<std::string> include_weights;     // use the imatrix only for entries containing one of these
  std::vector<std::string> exclude_weights;     // ... or not for these
  std::string output_tensor_type;               // ggml type for output.weight
  std::string token_embedding_type;             // ggml type for token_embd.weight
  bool leave_output_tensor = false;             // output.weight stays as stored
  std::vector<std::string> tensor_types;        // "REGEX=TYPE": first match picks the type
};

struct QuantizedTensorReport {
  std::string name;
  DType from = DType::F32;
  DType to = DType::F32;
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  double rmse = 0;     // with stats
  double max_abs = 0;  // with stats
  bool importance = false;  // quantized with its imatrix entry
};

struct QuantizeReport {
  std::vector<QuantizedTensorReport> tensors;
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  double seconds = 0;
  std::vector<std::string> outputs;  // files written (shards of a split set)
  std::vector<std::string> notes;    // what the user should know (tensors without an imatrix entry, ...)
  size_t imatrix_entries = 0;        // entries used from --imatrix (after include/exclude)
};

QuantizeReport quantize_gguf_file(const QuantizeOptions& options);

bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace ckpt
