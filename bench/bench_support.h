// Small helpers shared by the bench programs.
#pragma once

#include <cstdio>
#include <string>

namespace ckpt::bench {

// Runs a shell command and returns its standard output (empty when it cannot start).
inline std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

}  // namespace ckpt::bench
