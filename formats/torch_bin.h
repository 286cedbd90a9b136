// Legacy PyTorch checkpoints (pytorch_model.bin: torch.save's ZIP of data.pkl + data/<key> storages).
//
// data.pkl is read by a restricted unpickler written here: it interprets only the opcodes a state dict
// needs and resolves only the tensor-rebuild globals (torch._utils._rebuild_tensor_v2,
// _rebuild_parameter, collections.OrderedDict, the torch.*Storage types). Any other global - os.system,
// builtins.eval, an arbitrary __reduce__ - is refused with an error naming it; nothing is ever executed.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "formats/mapped_file.h"
#include "formats/tensor.h"

namespace ckpt {

struct TorchTensor {
  std::string name;  // nested dicts are joined with '.'
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  std::span<const std::byte> data;  // contiguous bytes inside the mapped archive
};

struct TorchBinFile {
  std::string path;
  std::shared_ptr<const MappedFile> file;
  std::vector<TorchTensor> tensors;  // in pickle order
};

TorchBinFile read_torch_bin(const std::string& path);
TorchBinFile read_torch_bin(std::shared_ptr<const MappedFile> file);
// pytorch_model.bin.index.json: {"weight_map": {tensor: file}} over several .bin files.
std::vector<TorchBinFile> read_torch_bin_index(const std::string& index_path);

}  // namespace ckpt
