// LoRA adapters inside a .ckpt archive, each bound to its base.
//
// An adapter NAME is one section "adapter/NAME" of kind "adapter" (JSON, below) and its files as
// sections "adapter/NAME/<file>" of kind "adapter-file": adapter_config.json + adapter_model.safetensors
// (or .bin) for PEFT, adapter.gguf for a llama.cpp GGUF LoRA, byte for byte as given.
//   {"name": NAME, "format": "peft" | "gguf-lora", "files": ["adapter_config.json", ...],
//    "peft_type", "r", "lora_alpha", "target_modules": [...], "parameters": N,
//    "base": {"digest": HEX, "tensors": [{"name": BASE_TENSOR, "sha256": HEX}, ...]}}
// The binding lists every base tensor the adapter modifies (as the base stores it: HF names in an
// HF-made archive, GGUF names in a GGUF-made one) with its SHA-256, sorted by name; the digest is
// SHA-256 over, for each entry, the name's bytes, one zero byte and the 32 digest bytes. An adapter is
// used only on a base whose tensors have those digests ("adapter built for a different base").
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "formats/ckpt_archive.h"
#include "formats/lora_adapter.h"

namespace ckpt {

struct CkptAdapterBinding {
  std::vector<std::pair<std::string, Sha256Digest>> tensors;  // sorted by name
  Sha256Digest digest() const;
};

struct CkptAdapter {
  std::string name;
  std::string format;              // "peft" | "gguf-lora"
  std::vector<std::string> files;  // file names; section "adapter/NAME/<file>" each
  std::string peft_type;
  uint64_t r = 0;
  double lora_alpha = 0;
  std::vector<std::string> target_modules;
  uint64_t parameters = 0;
  uint64_t bytes = 0;  // the files' decoded sizes, summed
  CkptAdapterBinding base;
  uint64_t offset = 0;  // of its "adapter" section (for error messages)
};

// "adapter/NAME": the section that describes adapter NAME.
std::string ckpt_adapter_section(const std::string& name);
// A name `ckpt adapter add --name` accepts: 1-128 bytes of [A-Za-z0-9._-], not "." or "..".
bool valid_ckpt_adapter_name(const std::string& name);

// Every adapter the archive holds, in name order. Throws Error naming the section for a description
// that is not valid JSON of the shape above, names a file section that is missing, or whose digest
// does not match its own tensor list.
std::vector<CkptAdapter> ckpt_archive_adapters(const CkptArchive& archive);
const CkptAdapter* find_ckpt_adapter(const std::vector<CkptAdapter>& adapters, const std::string& name);
// The same, or Error(NotFound) naming the archive and listing the adapters it does hold.
const CkptAdapter& ckpt_adapter_named(const CkptArchive& archive, const std::vector<CkptAdapter>& adapters, const std::string& name);

// The sections that store an adapter: its description and its files (name -> bytes, as on disk).
std::vector<CkptInputSection> ckpt_adapter_sections(const CkptAdapter& adapter, std::vector<std::pair<std::string, std::vector<std::byte>>> files);

// Bound tensors the archive lacks or holds with another SHA-256, from its index (none: bound to it).
std::vector<std::string> ckpt_binding_differences(const CkptAdapterBinding& binding, const CkptArchive& archive);

// Base tensors whose SHA-256 differs from the binding (or that the base lacks): "name" each. An
// archive base answers from its index; any other base hashes just the bound tensors.
std::vector<std::string> ckpt_binding_mismatches(const CkptAdapterBinding& binding, const std::string& base_path);

// Adapter NAME of the archive at `archive_path`, unpacked into a private temporary directory (kept
// alive by the returned adapter's source) and opened as open_lora_adapter opens it.
std::unique_ptr<LoraAdapter> open_ckpt_adapter(const std::string& archive_path, const std::string& name);

// Where merge, run --lora and finetune --init-adapter find an adapter given with a base model:
//   an existing path: a PEFT directory or GGUF LoRA (no binding to check), or an archive holding
//     exactly one adapter;
//   "ARCHIVE.ckpt:NAME": adapter NAME of that archive;
//   "NAME" when the base is an archive that holds it.
// Adapters from archives are checked against `base_path`'s tensors first: a mismatch throws
// Error(BadChecksum) "adapter built for a different base", naming the tensor.
std::unique_ptr<LoraAdapter> open_lora_adapter_for_base(const std::string& base_path, const std::string& spec);

// The archive and adapter name `spec` refers to as above, or nullopt when it is a plain adapter path.
struct CkptAdapterRef {
  std::string archive, name;
};
std::optional<CkptAdapterRef> resolve_ckpt_adapter_spec(const std::string& base_path, const std::string& spec);

}  // namespace ckpt
