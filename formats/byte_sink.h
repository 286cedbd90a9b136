// Where writers put bytes. One serializer per format writes through this interface, so a file and
// an in-memory buffer get identical bytes and round-trip tests need no disk.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/mapped_file.h"

namespace ckpt {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(std::span<const std::byte> bytes) = 0;
  // Bytes written so far.
  virtual uint64_t position() const = 0;
  // Name used in error messages.
  virtual const std::string& name() const = 0;

  void write_zeros(uint64_t n);
  // Writes `range`, a span inside `file`'s map. File sinks copy it in the kernel (copy_file_range), so
  // tensors that pass through unchanged never cross user space; others just write the bytes.
  virtual void write_from(const MappedFile& /*file*/, std::span<const std::byte> range) { write(range); }
  void write_text(std::string_view text) { write(std::as_bytes(std::span(text.data(), text.size()))); }
  template <typename T>
  void write_le(T value) {  // x86-64 and aarch64 are little-endian; ckpt does not build elsewhere
    write(std::as_bytes(std::span(&value, 1)));
  }
};

class BufferSink final : public ByteSink {
 public:
  explicit BufferSink(std::string name = "<memory>") : name_(std::move(name)) {}
  void write(std::span<const std::byte> bytes) override {
    if (!bytes.empty()) bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  }
  uint64_t position() const override { return bytes_.size(); }
  const std::string& name() const override { return name_; }
  const std::vector<std::byte>& bytes() const { return bytes_; }
  std::vector<std::byte> take() { return std::move(bytes_); }

 private:
  std::string name_;
  std::vector<std::byte> bytes_;
};

// Writes `<dir>/.<name>.ckpt-tmp-<pid>-XXXXXX` and renames it over `path` in commit() after fsync. If the
// sink is destroyed without commit() (an exception, a bad input discovered half-way), the temporary
// file is removed and `path` is untouched: no half-written outputs.
class AtomicFileSink final : public ByteSink {
 public:
  explicit AtomicFileSink(std::string path);
  ~AtomicFileSink() override;
  AtomicFileSink(const AtomicFileSink&) = delete;
  AtomicFileSink& operator=(const AtomicFileSink&) = delete;

  void write(std::span<const std::byte> bytes) override;
  void write_from(const MappedFile& file, std::span<const std::byte> range) override;
  uint64_t position() const override { return position_; }
  const std::string& name() const override { return path_; }
  void commit();

 private:
  void flush_buffer();
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  uint64_t position_ = 0;
  std::vector<std::byte> buffer_;
  size_t buffered_ = 0;
  int slot_ = -1;  // signal_cleanup registration of temp_path_
  bool committed_ = false;
};

// Writes `text` to `path` through an AtomicFileSink (a temporary name, renamed when complete).
void write_text_file(const std::string& path, std::string_view text);

}  // namespace ckpt
