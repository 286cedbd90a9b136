// What a signal leaves behind. Outputs are written under temporary names (AtomicFileSink) or into a
// staging directory (StagingDir); both register here, so SIGINT, SIGTERM and SIGHUP remove them before
// the process dies, and SIGBUS on a mapped input (the file was truncated while ckpt read it) becomes the
// usual one-line error naming the file and offset instead of a crash. After kill -9 nothing can run:
// the temporaries carry the writer's pid in their names and the next run to the same destination
// removes those whose process is gone (remove_stale_temporaries).
#pragma once

#include <cstddef>
#include <string>

namespace ckpt {

// Installs the handlers once per process (the CLI's main calls it; libraries work without it).
void install_signal_cleanup();

// A temporary output to remove if a signal arrives: a file, or a flat staging directory whose entries
// are removed with it. Registration copies the path; the returned slot unregisters it.
enum class TempKind { File, Directory };
int register_temporary(const std::string& path, TempKind kind);
void unregister_temporary(int slot);

// A mapped input range, so a SIGBUS inside it names the file and the offset.
int register_mapping(const void* base, size_t size, const std::string& path);
void unregister_mapping(int slot);

// The temporary-name pieces shared by writers and the stale-temporary sweep:
// "<dir>/.<name>.ckpt-tmp-<pid>-XXXXXX" for files, "<dir>/.<name>.ckpt-stage-<pid>-XXXXXX" for directories.
std::string temporary_prefix(const std::string& destination, bool directory);
// Removes the temporaries of `destination` left by processes that no longer exist (kill -9, power loss).
void remove_stale_temporaries(const std::string& destination);

}  // namespace ckpt
