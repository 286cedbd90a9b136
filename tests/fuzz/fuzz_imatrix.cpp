// libFuzzer entry: any bytes as a llama.cpp importance matrix (GGUF or legacy .dat). Either an Error
// or entries that are non-empty and finite; nothing may crash, hang or read out of bounds.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "formats/error.h"
#include "formats/imatrix_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto m = ckpt::parse_imatrix("fuzz.imatrix", std::as_bytes(std::span(data, size)));
    for (const auto& [name, values] : m.entries) {
      if (values.empty()) std::abort();
      for (float v : values) {
        if (!std::isfinite(v)) std::abort();
      }
    }
  } catch (const ckpt::Error&) {
  }
  return 0;
}
