// What kind of model file a path holds, decided from its bytes (not its extension) where possible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ckpt {

enum class FileKind {
  Safetensors,       // a single .safetensors file
  SafetensorsIndex,  // model.safetensors.index.json (sharded set)
  Gguf,
  HfDirectory,       // a directory holding an HF checkpoint
  LfsPointer,        // a Git LFS pointer stub
  Unknown,
};

std::string_view file_kind_name(FileKind kind);

// Sniffs `path`: directory -> HfDirectory; "GGUF" magic -> Gguf; an LFS pointer; a *.index.json with a
// weight_map -> SafetensorsIndex; a plausible 8-byte length followed by '{' (or JSON whitespace) ->
// Safetensors. Throws Error(Io) if the path cannot be read.
FileKind detect_file_kind(const std::string& path);

// The weight files of an HF checkpoint directory, in the order transformers prefers:
// model.safetensors.index.json, then model.safetensors, then any single *.safetensors.
// Throws Error(NotFound) listing what the directory holds when none is present.
std::string find_hf_weights(const std::string& dir);

}  // namespace ckpt
