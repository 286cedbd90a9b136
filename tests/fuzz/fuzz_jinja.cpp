// libFuzzer entry: any bytes as a chat template (they come inside model files) must render or fail with
// a ckpt::Error - never crash, recurse without bound, hang or grow without bound.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "formats/error.h"
#include "runtime/jinja.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json context = {
      {"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}, {{"role", "assistant"}, {"content", "Hello"}}}},
      {"add_generation_prompt", true},
      {"bos_token", "<s>"},
      {"eos_token", "</s>"},
      {"tools", nlohmann::ordered_json::array({{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", nlohmann::ordered_json::object()}}}}})}};
  try {
    volatile size_t n = ckpt::runtime::render_jinja(std::string(reinterpret_cast<const char*>(data), size), context).size();
    (void)n;
  } catch (const ckpt::Error&) {
  }
  return 0;
}
