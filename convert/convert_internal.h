// Pieces shared by the conversion directions (not part of the public header).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "convert/convert.h"
#include "formats/hf_config.h"
#include "convert/hf_plan.h"
#include "convert/tensor_convert.h"

namespace ckpt {

// Writes (or, for a dry run, only reports) a planned conversion; times it and fills the report.
// `provenance`: the provenance section when the output is a .ckpt archive (ckpt_provenance).
ConvertReport write_gguf_conversion(const GgufConversion& plan, const ConvertOptions& options, std::string provenance = {});

uint32_t llama_file_type(DType t);
DType tensor_out_dtype(const std::string& gguf_name, const std::vector<uint64_t>& ne, DType outtype);

ConvertReport convert_hf_to_gguf(const ConvertOptions& options);
ConvertReport convert_llama2c_to_gguf(const ConvertOptions& options);
ConvertReport convert_gguf_to_hf(const ConvertOptions& options);
ConvertReport convert_adapter_to_gguf(const ConvertOptions& options);
ConvertReport convert_gguf_adapter_to_peft(const ConvertOptions& options);

}  // namespace ckpt
