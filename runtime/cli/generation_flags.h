// Flags `run`, `eval` (and `finetune`, for --device) share: the sampling options (llama.cpp's names with transformers' as aliases,
// every number checked finite and in range) and --lora specs read into the runtime's adapters.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "runtime/lora.h"
#include "runtime/sampler.h"

namespace ckpt::cli {

// CLI::Range lets NaN through (every comparison with NaN is false).
extern const CLI::Validator kFinite;

// --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --no-repeat-ngram-size, defaulting
// to the values `s` holds when called.
void add_sampling_flags(CLI::App* cmd, runtime::SamplingParams& s);

// llama-cli's escape processing of -p, -f and --stop text: \n \r \t \' \" \\ and \xHH (two hex digits);
// any other backslash stays as it is.
void process_escapes(std::string& text);

// A device flag (--device, --check-device) taking cpu|cuda|auto, the names runtime::parse_device
// takes; `what` says what runs there.
CLI::Option* add_device_option(CLI::App* cmd, const std::string& flag, std::string& device, const std::string& what);

// "PATH[:SCALE]" strings of --lora as the runtime's adapter specs.
std::vector<runtime::LoraSpec> lora_specs(const std::vector<std::string>& flags);

}  // namespace ckpt::cli
