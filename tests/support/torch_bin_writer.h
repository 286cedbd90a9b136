// Writes torch.save-style archives for tests: a ZIP (stored entries, as torch writes them) holding
// <name>/data.pkl (pickle protocol 2 in the opcode sequence torch.save emits for a state dict) and
// <name>/data/<key> storages. Also lets tests put arbitrary (hostile) pickles into such an archive.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/dtype.h"

namespace ckpt::test {

struct TorchTensorSpec {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;
  std::vector<std::byte> data;
};

// Pickle of an OrderedDict of tensors, each a _rebuild_tensor_v2 over storage "<i>".
std::string state_dict_pickle(const std::vector<TorchTensorSpec>& tensors);

// A ZIP archive of the given entries (name, bytes), stored, with correct CRCs.
std::vector<std::byte> zip_archive(const std::vector<std::pair<std::string, std::string>>& entries);

// torch.save(state_dict) bytes for `tensors`.
std::vector<std::byte> torch_save_bytes(const std::vector<TorchTensorSpec>& tensors);

// An archive whose data.pkl is `pickle` (for hostile cases).
std::vector<std::byte> torch_archive_with_pickle(const std::string& pickle);

}  // namespace ckpt::test
