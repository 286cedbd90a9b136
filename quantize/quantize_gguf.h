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
};

struct QuantizedTensorReport {
  std::string name;
  DType from = DType::F32;
  DType to = DType::F32;
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  double rmse = 0;     // with stats
  double max_abs = 0;  // with stats
};

struct QuantizeReport {
  std::vector<QuantizedTensorReport> tensors;
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  double seconds = 0;
  std::vector<std::string> outputs;  // files written (shards of a split set)
};

QuantizeReport quantize_gguf_file(const QuantizeOptions& options);

bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace ckpt
