// Decode and prompt speed of ckpt's runtime against llama.cpp (libllama from npm, via
// tests/interop/peer.sh) on the same generated ~100M-parameter Llama GGUF, f16 / q8_0 / q4_0 (plus
// Q4_K_M, the most used mix), with the same thread count, in the same run. Also reports decode speed
// as a fraction of the memory-bandwidth limit: (bytes of weights read per token) / (memcpy bandwidth
// measured here with the same threads; memcpy moves each byte twice, so > 1 is possible).
//
// bench_generate [THREADS [N_PROMPT [N_GEN [REPEATS]]]]   (defaults: all cores, 128, 64, 3)
// CKPT_BENCH_DIR: where the model files go (default: the temp directory).
// CKPT_BENCH_MODEL=1b: a ~1B-parameter model (16 layers of 2048, SwiGLU 5632, vocab 32000) instead.
// CKPT_BENCH_DEVICE=cuda: ckpt on the CUDA backend; the limit is then the device's copy bandwidth
// (read + write), and the llama.cpp column needs a CUDA peer (CKPT_BENCH_PEER="PEER LIBDIR", e.g. one
// built by tests/interop/peer.sh from @node-llama-cpp/linux-x64-cuda); without one it is left empty.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "formats/byte_sink.h"
#include "formats/gguf.h"
#include "formats/parallel.h"
#include "quantize/quantize.h"
#include "quantize/quantize_gguf.h"
#include "runtime/runtime.h"

namespace {

namespace fs = std::filesystem;
using namespace ckpt;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Llama-2-style shapes: ~100M parameters (12 layers of 768, SwiGLU 2048, vocab 8192), or ~1B.
struct Shape {
  const char* name;
  uint32_t embd, layers, heads, ff, vocab, ctx;
};
constexpr Shape k100M{"100m", 768, 12, 12, 2048, 8192, 2048};
constexpr Shape k1B{"1b", 2048, 16, 32, 5632, 32000, 2048};
Shape g_shape = k100M;

// Cheap deterministic pseudo-normal values (sum of uniforms), generated per tensor while writing.
void fill_random(std::vector<float>& v, uint64_t seed, float scale) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& x : v) {
    float sum = 0;
    for (int k = 0; k < 4; ++k) {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      sum += static_cast<float>(s >> 40) / static_cast<float>(1ull << 24);
    }
    x = (sum - 2.0f) * 1.732f * scale;
  }
}

void write_model(const std::string& path) {
  const uint32_t kEmbd = g_shape.embd, kLayers = g_shape.layers, kHeads = g_shape.heads, kFf = g_shape.ff, kVocab = g_shape.vocab,
                 kCtx = g_shape.ctx;
  std::vector<GgufKv> kvs;
  kvs.push_back({"general.architecture", {std::string("llama")}, 0});
  kvs.push_back({"general.name", {std::string("ckpt-bench-") + g_shape.name}, 0});
  kvs.push_back({"llama.block_count", {kLayers}, 0});
  kvs.push_back({"llama.context_length", {kCtx}, 0});
  kvs.push_back({"llama.embedding_length", {kEmbd}, 0});
  kvs.push_back({"llama.feed_forward_length", {kFf}, 0});
  kvs.push_back({"llama.attention.head_count", {kHeads}, 0});
  kvs.push_back({"llama.attention.head_count_kv", {kHeads}, 0});
  kvs.push_back({"llama.attention.layer_norm_rms_epsilon", {1e-5f}, 0});
  kvs.push_back({"llama.rope.freq_base", {10000.0f}, 0});
  kvs.push_back({"llama.rope.dimension_count", {kEmbd / kHeads}, 0});
  kvs.push_back({"general.file_type", {uint32_t{1}}, 0});
  // A SentencePiece-shaped vocabulary so llama.cpp accepts the file (the bench feeds ids directly).
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    tokens.emplace_back(name);
    scores.push_back(0);
    types.push_back(6);
  }
  while (tokens.size() < kVocab) {
    tokens.push_back("\xE2\x96\x81t" + std::to_string(tokens.size()));
    scores.push_back(-static_cast<float>(tokens.size()));
    types.push_back(1);
  }
  kvs.push_back({"tokenizer.ggml.model", {std::string("llama")}, 0});
  kvs.push_back({"tokenizer.ggml.tokens", GgufValue::string_array(tokens), 0});
  kvs.push_back({"tokenizer.ggml.scores", GgufValue::numeric_array<float>(GgufType::F32, scores), 0});
  kvs.push_back({"tokenizer.ggml.token_type", GgufValue::numeric_array<int32_t>(GgufType::I32, types), 0});
  kvs.push_back({"tokenizer.ggml.bos_token_id", {uint32_t{1}}, 0});
  kvs.push_back({"tokenizer.ggml.eos_token_id", {uint32_t{2}}, 0});
  kvs.push_back({"tokenizer.ggml.unknown_token_id", {uint32_t{0}}, 0});

  std::vector<GgufTensorToWrite> tensors;
  uint64_t seed = 1;
  auto add = [&](const std::string& name, uint64_t cols, uint64_t rows, bool norm) {
    const DType t = norm ? DType::F32 : DType::F16;
    const std::vector<uint64_t> ne = rows == 1 ? std::vector<uint64_t>{cols} : std::vector<uint64_t>{cols, rows};
    tensors.push_back({name, ne, t, [=, s = seed++](ByteSink& sink) {
                         std::vector<float> v(cols * rows);
                         if (norm) {
                           std::fill(v.begin(), v.end(), 1.0f);
                         } else {
                           fill_random(v, s, 1.0f / std::sqrt(static_cast<float>(cols)));
                         }
                         std::vector<std::byte> bytes(*dtype_bytes_for(t, v.size()));
                         encode_from_f32(t, v, bytes);
                         sink.write(bytes);
                       }});
  };
  add("token_embd.weight", kEmbd, kVocab, false);
  add("output_norm.weight", kEmbd, 1, true);
  add("output.weight", kEmbd, kVocab, false);
  for (uint32_t i = 0; i < kLayers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    add(p + "attn_norm.weight", kEmbd, 1, true);
    add(p + "attn_q.weight", kEmbd, kEmbd, false);
    add(p + "attn_k.weight", kEmbd, kEmbd, false);
    add(p + "attn_v.weight", kEmbd, kEmbd, false);
    add(p + "attn_output.weight", kEmbd, kEmbd, false);
    add(p + "ffn_norm.weight", kEmbd, 1, true);
    add(p + "ffn_gate.weight", kEmbd, kFf, false);
    add(p + "ffn_up.weight", kEmbd, kFf, false);
    add(p + "ffn_down.weight", kFf, kEmbd, false);
  }
  write_gguf(path, kvs, tensors);
}

// Copy bandwidth with `threads` threads each copying its own slice (bytes copied per second).
double memcpy_bandwidth(unsigned threads) {
  const size_t bytes = size_t{512} << 20;
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  double best = 1e30;
  for (int r = 0; r < 4; ++r) {
    const double t0 = now();
    parallel_for(bytes, threads, [&](size_t b, size_t e) { std::memcpy(dst.data() + b, src.data() + b, e - b); });
    best = std::min(best, now() - t0);
  }
  return static_cast<double>(bytes) / best;
}

struct Speed {
  double pp = 0, tg = 0;
};

Speed bench_ckpt(const std::string& path, unsigned threads, int n_prompt, int n_gen, int repeats, uint64_t* weight_bytes, runtime::Device device) {
  const runtime::Model model = runtime::load_model(path);
  *weight_bytes = model.weight_bytes();
  const int kVocab = static_cast<int>(g_shape.vocab);
  runtime::Forward forward(model, static_cast<uint32_t>(n_prompt + n_gen + 16), runtime::make_backend(device, model, threads));
  std::vector<int32_t> prompt(static_cast<size_t>(n_prompt));
  for (int i = 0; i < n_prompt; ++i) prompt[static_cast<size_t>(i)] = 3 + (i * 37) % (kVocab - 3);
  double best_pp = 1e30, best_tg = 1e30;
  for (int r = 0; r <= repeats; ++r) {  // round 0 warms up (page cache, thread pool)
    forward.reset();
    double t0 = now();
    forward.eval(prompt);
    const double pp = now() - t0;
    t0 = now();
    for (int i = 0; i < n_gen; ++i) {
      const int32_t t = 3 + (i * 101) % (kVocab - 3);
      forward.eval(std::span<const int32_t>(&t, 1));
    }
    const double tg = now() - t0;
    if (r > 0) {
      best_pp = std::min(best_pp, pp);
      best_tg = std::min(best_tg, tg);
    }
  }
  return {n_prompt / best_pp, n_gen / best_tg};
}

using ckpt::bench::capture;

}  // namespace

int main(int argc, char** argv) {
  const unsigned threads = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : default_thread_count();
  const int n_prompt = argc > 2 ? std::atoi(argv[2]) : 128;
  const int n_gen = argc > 3 ? std::atoi(argv[3]) : 64;
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 3;
  if (const char* m = std::getenv("CKPT_BENCH_MODEL"); m && std::string(m) == "1b") g_shape = k1B;
  const bool cuda = std::getenv("CKPT_BENCH_DEVICE") && std::string(std::getenv("CKPT_BENCH_DEVICE")) == "cuda";
  const runtime::Device device = cuda ? runtime::Device::Cuda : runtime::Device::Cpu;
  if (cuda) {
    std::string why;
    if (!runtime::cuda::device_available(&why)) {
      std::printf("SKIP CUDA decode bench: %s\n", why.c_str());
      return 0;
    }
  }
  const fs::path dir = ckpt::bench::bench_dir();
  const std::string stem = std::string("ckpt-bench-") + g_shape.name + "-";
  const std::string f16 = (dir / (stem + "f16.gguf")).string();
  if (!fs::exists(f16)) write_model(f16);
  std::vector<std::pair<std::string, std::string>> files = {{"f16", f16}};
  for (const char* type : {"Q8_0", "Q4_0", "Q4_K_M"}) {
    const std::string out = (dir / (stem + type + ".gguf")).string();
    if (!fs::exists(out)) {
      QuantizeOptions q;
      q.input = f16;
      q.output = out;
      q.type = type;
      // Q8_0/Q4_0: every matrix in the named type; Q4_K_M: llama-quantize's mix (Q6_K output, ...).
      q.pure = std::string(type) != "Q4_K_M";
      quantize_gguf_file(q);
    }
    files.emplace_back(type, out);
  }
  const char* peer_env = std::getenv("CKPT_BENCH_PEER");
  const std::string peer_line = peer_env ? std::string(peer_env)
                                         : cuda ? std::string() : capture("bash " + std::string(CKPT_SOURCE_DIR) + "/tests/interop/peer.sh 2>/dev/null");
  std::istringstream peer_in(peer_line);
  std::string peer, bins;
  peer_in >> peer >> bins;
  if (peer.empty()) std::printf("SKIP llama.cpp baseline: npm/libllama unavailable; ckpt figures only\n");
  const double bandwidth = cuda ? runtime::cuda::device_copy_bandwidth() : memcpy_bandwidth(threads);
  if (cuda) {
    std::printf("model %s; cuda (%s), prompt %d tokens, decode %d tokens, best of %d; device copy bandwidth %.0f GB/s\n", g_shape.name,
                runtime::cuda::device_name().c_str(), n_prompt, n_gen, repeats, bandwidth / 1e9);
  } else {
    std::printf("model %s; threads %u, prompt %d tokens, decode %d tokens, best of %d; memcpy bandwidth %.2f GB/s (%u threads)\n",
                g_shape.name, threads, n_prompt, n_gen, repeats, bandwidth / 1e9, threads);
  }
  std::printf("%-6s %10s %12s %12s %8s | %12s %12s %8s | %10s\n", "type", "weights MB", "ckpt pp t/s", "llama pp t/s", "ratio",
              "ckpt tg t/s", "llama tg t/s", "ratio", "tg/bw-limit");
  for (const auto& [name, path] : files) {
    uint64_t weight_bytes = 0;
    const Speed c = bench_ckpt(path, threads, n_prompt, n_gen, repeats, &weight_bytes, device);
    Speed l;
    if (!peer.empty()) {
      const std::string out = capture(peer + " " + bins + " bench " + path + " " + std::to_string(n_prompt) + " " +
                                      std::to_string(n_gen) + " " + std::to_string(threads) + " " + std::to_string(repeats));
      std::sscanf(out.c_str(), "pp_tps %lf tg_tps %lf", &l.pp, &l.tg);
    }
    const double limit = bandwidth / static_cast<double>(weight_bytes);
    std::printf("%-6s %10.1f %12.1f %12.1f %8.2f | %12.1f %12.1f %8.2f | %10.2f\n", name.c_str(),
                static_cast<double>(weight_bytes) / 1e6, c.pp, l.pp, l.pp > 0 ? c.pp / l.pp : 0.0, c.tg, l.tg,
                l.tg > 0 ? c.tg / l.tg : 0.0, c.tg / limit);
    std::fflush(stdout);
  }
  return 0;
}
