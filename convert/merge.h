// Public header of ckpt's LoRA merge: PEFT merge_and_unload's math (alpha/r or alpha/sqrt(r) per module,
// fan_in_fan_out, DoRA, embedding LoRA, modules_to_save, LoRA bias, tied lm_head) for one or several
// weighted adapters, into any base ckpt reads (HF safetensors/.bin, bitsandbytes 4-bit, GGUF of any
// type), streamed tensor by tensor through the shared rewrite pipeline.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/dtype.h"
#include "formats/gguf_split.h"

namespace ckpt {

struct MergeAdapterSpec {
  std::string path;
  double weight = 1.0;
};

// "PATH[:WEIGHT]" (the last ':' followed by a number splits; a path may itself hold ':').
MergeAdapterSpec parse_adapter_spec(const std::string& text);

struct MergeOptions {
  std::string base;
  std::vector<MergeAdapterSpec> adapters;
  std::string output;       // a directory for HF bases; a .gguf path for GGUF bases (or an HF base converted)
  std::string outtype;      // "" (the base's types) | f32 | f16 | bf16 | any GGUF type ckpt quantizes | nf4[-dq], fp4[-dq]
  std::string merge_into = "original";  // "original" | "nf4-roundtrip" (the QLoRA training base, dequant(NF4-dq(W)))
  bool keep_delta = false;  // quantized outputs: tensors whose delta the quantization erases are written as Q8_0
  unsigned threads = 0;
  bool progress = false;
  bool dry_run = false;     // validate and plan, write nothing
  bool force = false;
  GgufSplitLimits split;
};

struct MergedTensorReport {
  std::string name;        // output tensor name
  std::string how;         // "lora", "dora", "embedding-lora", "replaced", "lora-bias", "untied", "resized"
  std::vector<std::string> adapters;
  DType dtype = DType::F32;  // written as
  double delta_norm = 0;     // ||merged - base|| (Frobenius, before output rounding)
  double nf4_noise_ratio = -1;  // ||W16 - dequant(NF4-dq(W16))|| / ||delta W|| (dense bases; -1: not measured)
  double codes_changed = -1;    // quantized outputs: fraction of elements whose dequantized value the merge changed
                                // (a block's new scale moves every value in it, so this is an upper bound on codes)
  double delta_correlation = -1;  // quantized outputs: corr(dequant(merged) - dequant(base), delta W)
  bool kept_as_q8_0 = false;
};

struct MergeReport {
  std::string base_format;
  std::string output_format;
  std::vector<std::string> outputs;
  std::vector<MergedTensorReport> tensors;  // the tensors the adapters changed
  uint64_t tensors_total = 0;
  std::vector<std::string> warnings;
  bool untied = false;
  uint64_t vocab_from = 0, vocab_to = 0;  // a modules_to_save embedding that resizes the vocabulary
  double seconds = 0;
};

// Throws ckpt::Error: every adapter module that does not fit the base is listed in one error before
// anything is written; NaN/Inf in a merged tensor names the tensor.
MergeReport merge_lora(const MergeOptions& options);

// What `inspect ADAPTER --base BASE` prints: one line per module that does not fit (empty: it fits).
std::vector<std::string> adapter_mismatches(const std::string& adapter, const std::string& base);

}  // namespace ckpt
