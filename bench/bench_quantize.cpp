// Quantization throughput, file to file, as input GB/s: `ckpt quantize` against llama.cpp's own
// quantizer (llama_model_quantize from the npm libllama, via tests/interop/peer.sh) on the same f32
// GGUF in the same run, with 1 and 2 threads; plus bitsandbytes nf4-dq from the same weights as an HF
// checkpoint, and memcpy of the input bytes as the ceiling. Peak RSS of each child from wait4.
// Goals (issue 4): >= 3x llama.cpp for Q8_0/Q4_0, >= 1.5x for Q4_K_M, nf4-dq >= 1 GB/s.
//
// CKPT_BENCH_QUANT_LAYERS (default 4, ~0.9 GB f32) sizes the model; CKPT_BENCH_DIR holds it.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Child {
  double seconds;
  long rss_kb;
  int status;
};

Child run(const std::vector<std::string>& argv, bool quiet = true) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::sync();
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (quiet) {
      const int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, STDOUT_FILENO);
      ::dup2(devnull, STDERR_FILENO);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  ::wait4(pid, &status, 0, &usage);
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), usage.ru_maxrss,
          WIFEXITED(status) ? WEXITSTATUS(status) : 255};
}

std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

double best_of(int n, const std::function<Child()>& fn, long* rss) {
  double best = 1e30;
  for (int i = 0; i < n; ++i) {
    const Child c = fn();
    if (c.status != 0) {
      std::fprintf(stderr, "child failed (exit %d)\n", c.status);
      std::exit(1);
    }
    best = std::min(best, c.seconds);
    *rss = std::max(*rss, c.rss_kb);
  }
  return best;
}

}  // namespace

int main() {
  const fs::path dir = std::getenv("CKPT_BENCH_DIR") ? fs::path(std::getenv("CKPT_BENCH_DIR")) : fs::temp_directory_path();
  const std::string layers = std::getenv("CKPT_BENCH_QUANT_LAYERS") ? std::getenv("CKPT_BENCH_QUANT_LAYERS") : "4";
  const fs::path hf = dir / ("ckpt-bench-quant-" + layers), f32 = dir / ("ckpt-bench-quant-" + layers + ".f32.gguf");
  const fs::path out = fs::exists("/dev/shm") ? fs::path("/dev/shm") : dir;
  if (!fs::exists(f32)) {
    run({CKPT_MAKE_CHECKPOINT, "llama", hf.string(), std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama", "2048", "5632", layers, "16", "4", "512"}, false);
    run({CKPT_BINARY, "convert", hf.string(), "-o", f32.string(), "--outtype", "f32", "--no-progress"});
  }
  const double in_bytes = static_cast<double>(fs::file_size(f32));
  std::printf("input: %s (%.2f GB f32)\n", f32.c_str(), in_bytes / 1e9);

  // memcpy of the input bytes: the ceiling any quantizer reading them could reach.
  {
    std::vector<char> a(static_cast<size_t>(in_bytes)), b(a.size());
    std::memset(a.data(), 1, a.size());
    std::memset(b.data(), 2, b.size());
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(b.data(), a.data(), a.size());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("memcpy: %.2f GB/s\n", in_bytes / 1e9 / s);
  }

  const std::string peer_line = capture("bash " + std::string(CKPT_SOURCE_DIR) + "/tests/interop/peer.sh 2>/dev/null");
  std::istringstream peer_in(peer_line);
  std::string peer, bins;
  peer_in >> peer >> bins;
  if (peer.empty()) std::printf("SKIP llama.cpp baseline: npm/libllama unavailable; ckpt figures only\n");

  const std::pair<const char*, int> types[] = {{"Q8_0", 7}, {"Q4_0", 2}, {"Q4_K_M", 15}};
  for (const auto& [type, ftype] : types) {
    for (const char* threads : {"1", "2"}) {
      long rss_ckpt = 0, rss_ref = 0;
      const std::string o1 = (out / "ckpt-bench-q-ckpt.gguf").string(), o2 = (out / "ckpt-bench-q-ref.gguf").string();
      const double t_ckpt = best_of(2, [&] {
        return run({CKPT_BINARY, "quantize", f32.string(), "-o", o1, "--type", type, "--threads", threads, "--no-progress"});
      }, &rss_ckpt);
      double t_ref = 0;
      if (!peer.empty()) {
        t_ref = best_of(2, [&] { return run({peer, bins, "quantize", f32.string(), o2, std::to_string(ftype), "0", threads}); }, &rss_ref);
      }
      std::printf("RATIO %-7s threads %s: ckpt %.2f GB/s (peak RSS %ld MB)", type, threads, in_bytes / 1e9 / t_ckpt, rss_ckpt / 1024);
      if (t_ref > 0) {
        std::printf(", llama.cpp %.2f GB/s (peak RSS %ld MB), ckpt/llama.cpp = %.2fx", in_bytes / 1e9 / t_ref, rss_ref / 1024, t_ref / t_ckpt);
      }
      std::printf("\n");
      std::fflush(stdout);
      fs::remove(o1);
      fs::remove(o2);
    }
  }
  {
    long rss = 0;
    const std::string o = (out / "ckpt-bench-q-bnb").string();
    const double hf_bytes = static_cast<double>(fs::file_size(hf / "model.safetensors"));
    const double t = best_of(2, [&] { return run({CKPT_BINARY, "quantize", hf.string(), "-o", o, "--type", "nf4-dq", "--no-progress"}); }, &rss);
    std::printf("RATIO nf4-dq  (HF f32 -> bnb, 1 thread): %.2f GB/s input (peak RSS %ld MB; goal >= 1 GB/s)\n", hf_bytes / 1e9 / t, rss / 1024);
    fs::remove_all(o);
  }
  return 0;
}
