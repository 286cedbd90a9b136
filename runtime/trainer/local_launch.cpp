// `--nproc N`: N copies of this process on one machine, as torchrun --nproc-per-node starts them.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#include "formats/error.h"
#include "runtime/trainer/trainer.h"

namespace ckpt::runtime {
namespace {

// A loopback port nobody listens on now (the kernel picks it; rank 0's store binds it next).
uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(ErrorCode::Io, "socket", Error::kNoOffset, "--nproc", "cannot open a socket to find a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) port = ntohs(a.sin_port);
  ::close(fd);
  if (!port) throw Error(ErrorCode::Io, "socket", Error::kNoOffset, "--nproc", "no free loopback port");
  return port;
}

}  // namespace

int launch_local_workers(unsigned nproc, const std::vector<std::string>& argv) {
  const std::string port = std::to_string(free_port());
  std::vector<pid_t> pids;
  for (unsigned rank = 0; rank < nproc; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) throw Error(ErrorCode::Io, "fork", Error::kNoOffset, "--nproc", "cannot start a worker");
    if (pid == 0) {
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv("/proc/self/exe", args.data());
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  int first_failure = 0;
  for (size_t done = 0; done < pids.size(); ++done) {
    int status = 0;
    const pid_t pid = ::wait(&status);
    if (pid < 0) break;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0 && first_failure == 0) {
      first_failure = code;
      for (pid_t p : pids) {
        if (p != pid) ::kill(p, SIGTERM);  // the others would wait for it in the next all-reduce
      }
    }
  }
  return first_failure;
}

}  // namespace ckpt::runtime
