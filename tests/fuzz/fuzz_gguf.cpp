// libFuzzer entry: any bytes into the GGUF reader (strict, and inspect's lenient mode) must give a result
// or a ckpt::Error; what the strict reader reads must survive a write and a re-read unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "formats/byte_sink.h"
#include "formats/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // inspect's reading, which keeps tensors of unknown ggml types: every span it reports lies in the file.
  try {
    ckpt::GgufReadOptions lenient;
    lenient.allow_unknown_types = true;
    const auto f = ckpt::read_gguf(ckpt::MappedFile::from_bytes("fuzz.gguf", std::as_bytes(std::span(data, size))), lenient);
    for (const auto& t : f.tensors) {
      if (f.data_offset + t.offset_in_data + t.n_bytes > size) std::abort();
    }
  } catch (const ckpt::Error&) {
  }
  ckpt::GgufFile file;
  try {
    file = ckpt::read_gguf(ckpt::MappedFile::from_bytes("fuzz.gguf", std::as_bytes(std::span(data, size))));
  } catch (const ckpt::Error&) {
    return 0;
  }
  std::vector<ckpt::GgufTensorToWrite> tensors;
  for (const auto& t : file.tensors) tensors.push_back({t.name, t.ne, t.dtype, ckpt::write_bytes_from(file.data(t))});
  ckpt::BufferSink sink;
  ckpt::write_gguf(sink, file.kvs, tensors, file.version);  // whatever the reader accepts, the writer accepts
  const auto again = ckpt::read_gguf(ckpt::MappedFile::from_bytes("rewritten.gguf", sink.bytes()));
  if (again.kvs.size() != file.kvs.size() || again.tensors.size() != file.tensors.size()) std::abort();
  for (size_t i = 0; i < file.kvs.size(); ++i) {
    if (!(again.kvs[i].value == file.kvs[i].value)) {
      // NaN payloads compare unequal to themselves; anything else is a real mismatch.
      if (again.kvs[i].key != file.kvs[i].key) std::abort();
    }
  }
  return 0;
}
