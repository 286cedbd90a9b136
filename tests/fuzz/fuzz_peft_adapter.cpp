// libFuzzer entry: a PEFT adapter directory built from the input (u32 little-endian length L, L bytes of
// adapter_config.json, the rest adapter_model.safetensors) must open as a LoRA adapter - per-module
// ranks, patterns and scales - or fail with a ckpt::Error, never crash, hang or overflow.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "formats/error.h"
#include "formats/lora_adapter.h"

namespace {

const std::filesystem::path& work_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("ckpt-fuzz-peft-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

void write(const std::filesystem::path& p, const uint8_t* data, size_t n) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t len = 0;
  std::memcpy(&len, data, 4);
  len = static_cast<uint32_t>(std::min<size_t>(len, size - 4));
  write(work_dir() / "adapter_config.json", data + 4, len);
  write(work_dir() / "adapter_model.safetensors", data + 4 + len, size - 4 - len);
  try {
    const auto adapter = ckpt::open_lora_adapter(work_dir().string());
    volatile double sink = 0;
    for (const auto& m : adapter->modules) sink = sink + m.scale + static_cast<double>(m.r + m.out_features() + m.in_features());
  } catch (const ckpt::Error&) {
  }
  return 0;
}
