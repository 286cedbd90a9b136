// libFuzzer entry: any bytes as an instruction-data JSONL file. Every line is a record or a problem
// naming a line and an offset inside the file; records keep their line's bytes; the split of however
// many records were read is a partition. Nothing may crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "formats/error.h"
#include "formats/mapped_file.h"
#include "formats/training_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ckpt::MappedFile::from_bytes("fuzz.jsonl", std::as_bytes(std::span(data, size)));
  ckpt::DataLimits limits;
  limits.max_chars = 64;
  const ckpt::TrainingData d = ckpt::read_training_data(*file, limits);
  for (const auto& p : d.problems) {
    if (p.line == 0 || p.offset > size) std::abort();
  }
  for (const auto& r : d.records) {
    if (r.offset + r.raw.size() > size) std::abort();
  }
  const auto s = ckpt::split_training_data(d.records.size(), 0.25, size);
  if (s.train.size() + s.validation.size() != d.records.size()) std::abort();
  return 0;
}
