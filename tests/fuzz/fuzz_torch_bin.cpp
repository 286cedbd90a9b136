// libFuzzer entry: any bytes into the torch.save reader (ZIP + restricted unpickler) must give a
// state dict or a ckpt::Error, and never execute or crash.
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/torch_bin.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = ckpt::read_torch_bin(ckpt::MappedFile::from_bytes("fuzz.bin", std::as_bytes(std::span(data, size))));
    volatile uint64_t sink = 0;
    for (const auto& t : file.tensors) sink = sink + t.data.size();
  } catch (const ckpt::Error&) {
  }
  return 0;
}
