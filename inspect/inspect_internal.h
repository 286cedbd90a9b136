// Per-format halves of inspect_path; each fills an InspectReport.
#pragma once

#include <string>

#include "inspect/inspect.h"

namespace ckpt {

void inspect_gguf(const std::string& path, const InspectOptions& options, InspectReport& report);
void inspect_safetensors(const std::string& path, InspectReport& report);
void inspect_safetensors_index(const std::string& path, InspectReport& report);
void inspect_hf_directory(const std::string& dir, InspectReport& report);
// .bin files and directories, llama2.c checkpoints, PEFT adapters: through the model-source layer.
void inspect_model_source(const std::string& path, InspectReport& report);
void inspect_archive(const std::string& path, InspectReport& report);  // .ckpt
void summarize_hf_config(const std::string& config_path, InspectReport& report);
struct AdapterInfo;
void add_adapter_fields(const AdapterInfo& adapter, uint64_t parameters, InspectReport& report);

}  // namespace ckpt
