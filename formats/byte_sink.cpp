#include "formats/byte_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "formats/error.h"
#include "formats/signal_cleanup.h"

namespace ckpt {

void ByteSink::write_zeros(uint64_t n) {
  static constexpr std::byte kZeros[4096] = {};
  while (n > 0) {
    const uint64_t chunk = std::min<uint64_t>(n, sizeof(kZeros));
    write(std::span(kZeros, chunk));
    n -= chunk;
  }
}

namespace {
constexpr size_t kWriteBufferBytes = size_t{4} << 20;

[[noreturn]] void throw_io(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::Io, path, Error::kNoOffset, "", what + ": " + std::strerror(errno));
}
}  // namespace

AtomicFileSink::AtomicFileSink(std::string path) : path_(std::move(path)) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::InvalidArgument, path_, Error::kNoOffset, "output",
                S_ISDIR(st.st_mode) ? "is a directory" : "exists and is not a regular file (a device, FIFO or socket)");
  }
  remove_stale_temporaries(path_);
  temp_path_ = temporary_prefix(path_, false) + std::to_string(::getpid()) + "-XXXXXX";
  fd_ = ::mkstemp(temp_path_.data());
  if (fd_ < 0) {
    std::filesystem::path dir = std::filesystem::path(path_).parent_path();
    throw_io(path_, "cannot create temporary file in " + (dir.empty() ? std::string(".") : dir.string()));
  }
  slot_ = register_temporary(temp_path_, TempKind::File);
  ::fchmod(fd_, 0644);  // mkstemp makes 0600; outputs are ordinary files
  buffer_.resize(kWriteBufferBytes);
}

AtomicFileSink::~AtomicFileSink() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
  unregister_temporary(slot_);
}

void AtomicFileSink::write(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;  // an empty span may carry a null pointer, which memcpy must not see
  position_ += bytes.size();
  if (buffered_ + bytes.size() > buffer_.size()) flush_buffer();
  if (bytes.size() >= buffer_.size()) {  // large tensor: write straight through
    const std::byte* p = bytes.data();
    size_t left = bytes.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, std::min<size_t>(left, size_t{1} << 30));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_io(path_, "write failed");
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    return;
  }
  std::memcpy(buffer_.data() + buffered_, bytes.data(), bytes.size());
  buffered_ += bytes.size();
}

void AtomicFileSink::write_from(const MappedFile& file, std::span<const std::byte> range) {
  const auto base = file.bytes().data();
  if (file.fd() < 0 || range.size() < (uint64_t{1} << 20) || range.data() < base || range.data() + range.size() > base + file.size()) {
    write(range);  // small or not from a real file: the buffer is cheaper than a system call
    return;
  }
  flush_buffer();
  auto in_offset = static_cast<off64_t>(range.data() - base);
  size_t left = range.size();
  while (left > 0) {
    const ssize_t n = ::copy_file_range(file.fd(), &in_offset, fd_, nullptr, left, 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      // Not supported here (old kernel, some file systems): write the rest from the map.
      write(range.last(left));
      return;
    }
    left -= static_cast<size_t>(n);
    position_ += static_cast<uint64_t>(n);
  }
}

void AtomicFileSink::flush_buffer() {
  size_t done = 0;
  while (done < buffered_) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffered_ - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io(path_, "write failed");
    }
    done += static_cast<size_t>(n);
  }
  buffered_ = 0;
}

void AtomicFileSink::commit() {
  if (committed_) return;
  flush_buffer();
  if (::fsync(fd_) != 0) throw_io(path_, "fsync failed");
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw_io(path_, "close failed");
  }
  fd_ = -1;
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) throw_io(path_, "rename failed");
  committed_ = true;
}

void write_text_file(const std::string& path, std::string_view text) {
  AtomicFileSink sink(path);
  sink.write_text(text);
  sink.commit();
}

}  // namespace ckpt
