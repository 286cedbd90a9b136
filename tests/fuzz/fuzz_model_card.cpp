// libFuzzer entry: any bytes as a model card (README.md). Never throws; every key is general.* and every
// string is bounded.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "formats/model_card.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ckpt::ModelCard card = ckpt::parse_model_card(std::string(reinterpret_cast<const char*>(data), size));
  for (const auto& kv : card.kvs) {
    if (!kv.key.starts_with("general.")) std::abort();
    if (const auto* s = kv.value.as_string(); s && s->size() > 4096 + 64) std::abort();
  }
  return 0;
}
