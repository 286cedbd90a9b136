// Output safety shared by every writer: an output never replaces an input, is never a device or a FIFO,
// and a multi-file output (HF directory, bnb directory, split GGUF) is built in a staging directory
// beside the destination and moved into place in one step, so an interrupted run leaves the
// destination absent or as it was.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ckpt {

// Throws Error(InvalidArgument) naming `output` when it is, or would replace, one of `inputs` (files,
// or directories whose entries count as inputs; compared by device and inode, so links and other
// spellings of the same file are caught), when an input lies inside an output directory, or when it
// exists and is not a regular file (or, for `output_is_directory`, not a directory).
void check_output_path(const std::string& output, const std::vector<std::string>& inputs, bool output_is_directory);

// A file name read from an untrusted file (a shard in an index, a section of an archive) that is written
// or opened inside a directory: not empty, ".", "..", and without '/', '\\' or NUL, so it cannot walk out.
bool is_plain_file_name(std::string_view name);

// A directory "<parent>/.<name>.ckpt-stage-<pid>-XXXXXX" that becomes `destination` on commit().
// An existing non-empty destination is refused (Error InvalidArgument) unless `force`, in which case
// commit() exchanges the two atomically and removes the old one. Destroyed without commit(), the
// staging directory and everything in it is removed; a signal removes it too (signal_cleanup.h).
class StagingDir {
 public:
  // Directory: the staging directory becomes `destination`. FilesBeside: `destination` names a file
  // whose siblings are written (split GGUF shards); commit() renames each staged file into the
  // destination's directory, then removes the empty staging directory.
  enum class Mode { Directory, FilesBeside };
  StagingDir(std::string destination, bool force, Mode mode = Mode::Directory);
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  const std::string& path() const { return path_; }
  const std::string& destination() const { return destination_; }
  // The path a file named `name` will have once committed (for reports).
  std::string final_path(const std::string& name) const;
  void commit();

 private:
  std::string destination_;
  std::string path_;
  int slot_ = -1;
  bool force_ = false;
  Mode mode_ = Mode::Directory;
  bool committed_ = false;
};

}  // namespace ckpt
