// An HF checkpoint directory opened for reading: config.json plus every tensor of the weight files
// (model.safetensors, a sharded set with its index, or a legacy pytorch_model.bin), as zero-copy views
// into the mapped files.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "convert/hf_config.h"
#include "formats/mapped_file.h"
#include "formats/tensor.h"
#include "quantize/bnb_layout.h"

namespace ckpt {

struct SourceTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;  // outermost first
  std::span<const std::byte> data;
  std::shared_ptr<const MappedFile> file;  // for error messages and releasing pages after use
  // Quantized sources (bitsandbytes 4-bit / int8): dtype is F32, `data` is empty, and this produces the
  // dequantized values when the tensor is written (one tensor in memory at a time).
  std::function<std::vector<float>()> decode;
  DType stored_dtype = DType::F32;  // the dtype before quantization (bnb quant_state "dtype")
  // bitsandbytes 4-bit sources also give their codes and scales as stored (nullopt for int8).
  std::function<std::optional<Bnb4Weight>()> bnb4;
};

struct HfCheckpoint {
  std::string dir;
  std::optional<JsonFile> config;  // config.json (absent for adapter-only dirs)
  std::vector<SourceTensor> tensors;
  std::vector<std::string> weight_files;

  const SourceTensor* find(std::string_view name) const;
  void index();  // builds the name lookup after tensors change

 private:
  std::unordered_map<std::string_view, size_t> by_name_;
};

// Opens `dir`; requires config.json. Throws Error naming the file at fault.
HfCheckpoint open_hf_checkpoint(const std::string& dir);

// Opens just the weights of a safetensors file / index / directory (no config required).
HfCheckpoint open_tensor_files(const std::string& path);

}  // namespace ckpt
