// Per-tensor SHA-256 manifests for models of any format (what llama-gguf-hash does for GGUF, built in):
// `ckpt hash MODEL` writes one, `ckpt verify MODEL` checks against it and names the tensor that changed.
//   {"format": "ckpt-tensor-manifest", "version": 1, "tensors": {NAME: {"dtype", "shape", "sha256"}, ...}}
// over each stored tensor's bytes (bitsandbytes codes and companions, GGUF blocks, as stored).
#pragma once

#include <string>
#include <vector>

namespace ckpt {

// Where `ckpt hash` writes by default: MODEL.sha256.json beside a file, DIR/tensors.sha256.json in a directory.
std::string default_tensor_manifest_path(const std::string& model);

// Hashes every stored tensor of `model` (threads over tensors) and writes the manifest through a temporary.
// Returns the number of tensors.
size_t write_tensor_manifest(const std::string& model, const std::string& manifest, unsigned threads);

struct TensorManifestCheck {
  std::vector<std::string> changed, missing, extra;  // changed: bytes, dtype or shape differ
  size_t checked = 0;
  bool ok() const { return changed.empty() && missing.empty() && extra.empty(); }
};

// Throws Error naming the manifest file and field when it is not a ckpt-tensor-manifest.
TensorManifestCheck check_tensor_manifest(const std::string& model, const std::string& manifest, unsigned threads);

}  // namespace ckpt
