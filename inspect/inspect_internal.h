// Per-format halves of inspect_path; each fills an InspectReport.
#pragma once

#include <string>

#include "inspect/inspect.h"

namespace ckpt {

void inspect_gguf(const std::string& path, const InspectOptions& options, InspectReport& report);
void inspect_safetensors(const std::string& path, InspectReport& report);
void inspect_safetensors_index(const std::string& path, InspectReport& report);
void inspect_hf_directory(const std::string& dir, InspectReport& report);

}  // namespace ckpt
