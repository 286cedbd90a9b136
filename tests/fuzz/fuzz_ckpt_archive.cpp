// libFuzzer entry: any bytes into the .ckpt archive reader give an archive or a ckpt::Error; every
// tensor and section span it reports lies inside the file, and verifying and decoding them (zlib
// included), reading its adapter descriptions and its tensor order stays bounded and never crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "formats/ckpt_archive.h"
#include "formats/ckpt_archive_adapters.h"
#include "formats/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ckpt::CkptArchive a;
  try {
    a = ckpt::read_ckpt_archive(ckpt::MappedFile::from_bytes("fuzz.ckpt", std::as_bytes(std::span(data, size))));
  } catch (const ckpt::Error&) {
    return 0;
  }
  // Spans point into the mapped copy the reader holds.
  const std::byte* begin = a.file->bytes().data();
  size = a.file->size();
  for (const auto& t : a.tensors) {
    if (t.data.data() < begin || t.data.data() + t.data.size() > begin + size) std::abort();
  }
  for (const auto& s : a.sections) {
    if (s.stored.data() < begin || s.stored.data() + s.stored.size() > begin + size) std::abort();
    try {
      if (a.section_bytes(s).size() != s.size) std::abort();
    } catch (const ckpt::Error&) {
    }
  }
  (void)ckpt::verify_ckpt_archive(a, 1);
  try {
    for (const auto& x : ckpt::ckpt_archive_adapters(a)) {
      if (x.files.empty()) std::abort();
    }
  } catch (const ckpt::Error&) {
  }
  try {
    if (a.tensors_in_source_order().size() != a.tensors.size()) std::abort();
  } catch (const ckpt::Error&) {
  }
  return 0;
}
