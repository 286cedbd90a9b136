// Public header of ckpt::convert: HF checkpoints (safetensors, sharded, pytorch_model.bin) and
// llama2.c checkpoints -> GGUF, and GGUF -> HF, streaming tensor by tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/gguf_split.h"

namespace ckpt {

struct ConvertOptions {
  std::string input;   // HF model directory, a GGUF file (with to == "hf"), or a llama2.c .bin
  std::string output;  // .gguf path, or a directory for to == "hf"
  std::string to = "gguf";           // "gguf" | "hf" | "peft" (a GGUF LoRA back to a PEFT directory)
  std::string outtype;               // f32 | f16 | bf16 | q8_0 | auto; empty: auto to GGUF, as stored to HF
  std::string base;                  // adapters: the base model they belong to (names, head counts)
  std::string llama2c_vocab;         // tokenizer.bin for llama2.c checkpoints (tok512.bin)
  std::string model_name;            // general.name (default: the input's name)
  GgufSplitLimits split;
  unsigned threads = 0;              // 0: all cores
  bool progress = false;             // draw a progress bar on stderr
  bool dry_run = false;              // plan and print, write nothing
  bool force = false;                // --to hf: replace a non-empty output directory
  bool allow_overflow = false;       // write values that overflow f16 as inf instead of refusing
};

struct ConvertedTensor {
  std::string source_name;
  std::string name;
  std::string dtype;
  std::vector<uint64_t> shape;  // outermost first (PyTorch order) for every output format, as inspect prints
};

struct ConvertReport {
  std::string architecture;
  std::vector<std::string> outputs;
  std::vector<ConvertedTensor> tensors;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  double seconds = 0;
  std::string outtype;  // what --outtype (auto included) resolved to: f32, f16, bf16, q8_0
  // Tensors narrowed to f16 where values became inf or NaN, with their counts (with allow_overflow).
  std::vector<std::pair<std::string, uint64_t>> f16_overflow;
};

// Throws ckpt::Error (file, offset, field) on bad input or options; outputs are written atomically.
ConvertReport convert(const ConvertOptions& options);

// `output` with {ftype} / {outtype} replaced by the resolved type ("bf16"), as convert_hf_to_gguf
// formats its --outfile.
std::string resolve_output_name(const std::string& output, const std::string& outtype);

// Parses --outtype; throws Error(InvalidArgument) listing the choices.
DType parse_outtype(const std::string& name, DType first_tensor_dtype);

}  // namespace ckpt
