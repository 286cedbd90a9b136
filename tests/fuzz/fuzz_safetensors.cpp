// libFuzzer entry: any bytes into the safetensors reader must give a result or a ckpt::Error.
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = ckpt::read_safetensors(
        ckpt::MappedFile::from_bytes("fuzz.safetensors", std::as_bytes(std::span(data, size))));
    volatile uint64_t sink = 0;
    for (const auto& t : file.tensors) sink = sink + file.data(t).size();  // touch every view's bounds
  } catch (const ckpt::Error&) {
  }
  return 0;
}
