// One way into every model ckpt reads. open_model_source() takes any input kind a user may hand a
// subcommand and gives one uniform view: tensors (name, dtype, shape in PyTorch order, zero-copy bytes
// or a decoder), the files behind them, the config / tokenizer files, and adapter facts.
//
//   HF directory     config.json + model.safetensors | sharded safetensors + index |
//                    pytorch_model.bin | sharded .bin + index (bitsandbytes layouts stay raw here;
//                    quantize's fold_bnb_weights turns them into decodable tensors)
//   safetensors      a single file or a *.safetensors.index.json
//   torch .bin       a single pytorch_model.bin (ZIP; restricted unpickler)
//   GGUF             a single file or a split set (from any shard); general.type "adapter" -> GgufAdapter
//   llama2.c         run.c's model.bin (header + f32 arrays)
//   PEFT adapter     a directory with adapter_config.json + adapter_model.safetensors / adapter_model.bin
//   .ckpt archive    the model it holds, read in place (formats/ckpt_archive_source.h)
//
// Adapters are recognised as adapters (never as a checkpoint), with r, lora_alpha and the scale
// PEFT applies.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "formats/gguf_split.h"
#include "formats/mapped_file.h"
#include "formats/tensor.h"

namespace ckpt {

enum class SourceKind {
  HfCheckpoint,  // directory (or weights without config.json)
  Safetensors,   // one safetensors file or an index
  TorchBin,      // one pytorch_model.bin
  Gguf,
  GgufAdapter,
  Llama2c,
  PeftAdapter,
};
std::string_view source_kind_name(SourceKind kind);

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
  std::string quantization;         // "" | "bnb4" | "bnb-int8"
  uint64_t offset_in_file() const {
    return file && !data.empty() ? static_cast<uint64_t>(data.data() - file->bytes().data()) : 0;
  }
};

// PEFT's adapter_config.json (or a GGUF LoRA's adapter.* keys), as PEFT interprets it.
struct AdapterInfo {
  std::string peft_type;          // "LORA"
  std::string base_model;         // base_model_name_or_path
  std::string task_type;
  uint64_t r = 0;
  double lora_alpha = 0;
  bool use_rslora = false;
  bool use_dora = false;
  bool fan_in_fan_out = false;
  std::vector<std::string> target_modules;
  std::vector<std::string> modules_to_save;
  bool target_modules_regex = false;  // target_modules given as one string: a re.fullmatch pattern
  std::vector<std::string> exclude_modules;
  // {pattern: r} / {pattern: alpha}, in file order; PEFT matches re.match(r"(.*\.)?(pattern)$", module)
  // and the first matching pattern wins.
  std::vector<std::pair<std::string, uint64_t>> rank_pattern;
  std::vector<std::pair<std::string, double>> alpha_pattern;
  std::vector<int64_t> layers_to_transform;
  std::vector<std::string> layers_pattern;
  std::string bias = "none";  // "none" | "all" | "lora_only": which base biases the adapter carries
  bool lora_bias = false;     // lora_B has a bias
  std::string config_path;
  bool gguf = false;  // llama.cpp's GGUF LoRA: scale = alpha ? alpha / r : 1
  // PEFT: lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA (GGUF LoRA: see `gguf`).
  double scale() const;
  // The rank, alpha and scale PEFT gives `module` ("model.layers.0.self_attn.q_proj") after the patterns.
  uint64_t rank_for(const std::string& module) const;
  double alpha_for(const std::string& module) const;
  double scale_for(const std::string& module) const;
};

struct ModelSource {
  SourceKind kind = SourceKind::HfCheckpoint;
  std::string path;                       // as given
  std::string dir;                        // directory holding the model's side files
  std::string format;                     // "safetensors", "safetensors (3 shards)", "pytorch .bin", "GGUF v3", ...
  std::optional<std::string> config_path; // config.json when present
  std::vector<std::string> weight_files;
  std::vector<std::string> side_files;    // tokenizer and generation files beside the weights
  std::vector<SourceTensor> tensors;      // what a consumer reads (bnb families folded once decoded)
  std::vector<SourceTensor> all_tensors;  // every stored tensor, companions included
  std::optional<GgufSet> gguf;            // GGUF inputs: the parsed set (metadata, offsets)
  std::optional<AdapterInfo> adapter;     // PEFT / GGUF LoRA adapters
  std::vector<std::pair<std::string, uint64_t>> llama2c_header;  // llama2.c: the seven header fields
  // general.name when the user gives none; empty: the directory's name. Archives set their stem, since
  // their side files sit in a temporary directory whose name means nothing.
  std::string model_name;
  // .ckpt archives: the parsed index and the temporary directory holding the unpacked side files
  // (removed when the last copy of this source goes).
  std::shared_ptr<const void> keep_alive;

  const SourceTensor* find(std::string_view name) const;
  // Lookup over all_tensors (bitsandbytes decoding needs the companions).
  TensorLookup lookup() const;
  // Every file the source reads: outputs must never replace one of these.
  std::vector<std::string> input_files() const;
  void index();  // rebuilds find()'s map after `tensors` changes

 private:
  std::unordered_map<std::string, size_t> by_name_;  // owned keys: a copied source stays valid
};

// The last name of a path, as a model's name: "models/tiny-llama", "models/tiny-llama/" and "." inside
// it all give "tiny-llama" (made absolute and normal first, trailing separators ignored).
std::string path_name(const std::string& path);

// Throws Error(Unsupported) naming general.type when `file` is a LoRA adapter (general.type "adapter"),
// for operations that need a model: `what` says which ("run", "convert --to hf", ...).
void refuse_gguf_adapter(const GgufFile& file, std::string_view what);

// Opens `path` as whatever it is (see the table above). Throws Error naming the file at fault; a
// directory with neither weights nor adapter_config.json lists what it holds.
ModelSource open_model_source(const std::string& path);

}  // namespace ckpt
