// libFuzzer entry: any bytes into the llama2.c reader (a header with no magic, then f32 arrays that must
// fill the file exactly) must give the arrays or a ckpt::Error, never a crash or an overflowed size.
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/error.h"
#include "formats/llama2c.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  try {
    const auto file = ckpt::read_llama2c(ckpt::MappedFile::from_bytes("fuzz.bin", bytes));
    volatile uint64_t sink = 0;
    for (const auto& a : file.arrays) sink = sink + a.data.size();
  } catch (const ckpt::Error&) {
  }
  (void)ckpt::looks_like_llama2c(bytes, size);
  return 0;
}
