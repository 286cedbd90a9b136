// A small program linked against llama.cpp's own libllama (from the npm package
// @node-llama-cpp/linux-x64@3.21.1) so tests can ask llama.cpp itself whether it loads and runs what
// ckpt writes. Built at test time by run_interop.sh, never part of ckpt.
//
//   llama_peer BINS_DIR greedy MODEL PROMPT N [LORA SCALE]...   prints "prompt ids: ..." and "generated ids: ..."
//                                                (greedy), with GGUF LoRA adapters applied at run time
//   llama_peer BINS_DIR quantize IN OUT FTYPE [PURE [NTHREAD [OPTION]...]]   llama_model_quantize as
//                                                llama-quantize calls it; OPTION: imatrix=FILE, output=TYPE,
//                                                embd=TYPE, tt=PATTERN=TYPE, leave-output, keep-split
//   llama_peer BINS_DIR quantize-rows TYPE N_PER_ROW IN.f32 OUT [IMATRIX.f32]   ggml_quantize_chunk on raw rows
//   llama_peer BINS_DIR dequantize-rows TYPE N IN OUT.f32   ggml's to_float for N values of blocks
//   llama_peer BINS_DIR bench MODEL N_PROMPT N_GEN THREADS REPEATS  prints "pp_tps X tg_tps Y" (best of REPEATS)
//   llama_peer BINS_DIR embed MODEL TEXT            prints "ids: ..." and "embedding: ..." (an encoder, mean-pooled)
//   llama_peer BINS_DIR seq2seq MODEL TEXT N        prints "ids: ..." and "generated ids: ..." (T5: encode, N greedy steps)
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <strings.h>
#include <string>
#include <utility>
#include <vector>

#include <cmath>
#include <fstream>
#include <map>
#include <unordered_map>

#include "ggml-backend.h"
#include "llama.h"

// llama.cpp's imatrix reader, exported by libllama-common.so (common/imatrix-loader.h).
struct common_imatrix_entry {
  std::vector<float> sums;
  std::vector<int64_t> counts;
};
struct common_imatrix {
  std::map<std::string, common_imatrix_entry> entries;
  std::vector<std::string> datasets;
  int32_t chunk_count = 0;
  int32_t chunk_size = 0;
  bool is_legacy = false;
  bool has_metadata = false;
};
bool common_imatrix_load(const std::string& fname, common_imatrix& imatrix);

namespace {

void quiet_log(ggml_log_level level, const char* text, void*) {
  if (level >= GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

void print_ids(const char* label, const std::vector<llama_token>& ids) {
  std::printf("%s:", label);
  for (llama_token t : ids) std::printf(" %d", t);
  std::printf("\n");
}

// The model on the CPU, quietly (no progress dots); nullptr, with a line on stderr, when llama.cpp refuses it.
llama_model* load(const char* model_path) {
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  mp.progress_callback = [](float, void*) { return true; };
  llama_model* model = llama_model_load_from_file(model_path, mp);
  if (!model) std::fprintf(stderr, "llama_peer: llama.cpp could not load %s\n", model_path);
  return model;
}

// `text` with the vocabulary's special tokens added, as llama-cli tokenizes a prompt.
bool tokenize(const llama_vocab* vocab, const char* text, std::vector<llama_token>& ids) {
  ids.resize(std::strlen(text) + 8);
  const int n = llama_tokenize(vocab, text, static_cast<int32_t>(std::strlen(text)), ids.data(), static_cast<int32_t>(ids.size()),
                               /*add_special=*/true, /*parse_special=*/false);
  if (n < 0) return false;
  ids.resize(static_cast<size_t>(n));
  return true;
}

int greedy(const char* model_path, const char* prompt, int n_predict, const std::vector<std::pair<std::string, float>>& loras) {
  llama_model* model = load(model_path);
  if (!model) return 3;
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::vector<llama_token> ids;
  if (!tokenize(vocab, prompt, ids)) return 4;
  print_ids("prompt ids", ids);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(ids.size() + n_predict + 8);
  cp.n_batch = cp.n_ctx;
  cp.n_threads = 1;
  cp.n_threads_batch = 1;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return 5;
  std::vector<llama_adapter_lora*> adapters;
  std::vector<float> scales;
  for (const auto& [path, scale] : loras) {
    llama_adapter_lora* a = llama_adapter_lora_init(model, path.c_str());
    if (!a) {
      std::fprintf(stderr, "llama_peer: llama.cpp could not load the LoRA %s\n", path.c_str());
      return 8;
    }
    adapters.push_back(a);
    scales.push_back(scale);
  }
  if (!adapters.empty() && llama_set_adapters_lora(ctx, adapters.data(), adapters.size(), scales.data()) != 0) return 9;
  const int n_vocab = llama_vocab_n_tokens(vocab);
  std::vector<llama_token> generated;
  llama_batch batch = llama_batch_get_one(ids.data(), static_cast<int32_t>(ids.size()));
  llama_token next = 0;
  for (int i = 0; i < n_predict; ++i) {
    if (llama_decode(ctx, batch) != 0) return 6;
    const float* logits = llama_get_logits_ith(ctx, -1);
    next = 0;
    for (int v = 1; v < n_vocab; ++v) {
      if (logits[v] > logits[next]) next = v;
    }
    generated.push_back(next);
    batch = llama_batch_get_one(&next, 1);
  }
  print_ids("generated ids", generated);
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}

ggml_type type_named(const std::string& name) {
  for (int i = 0; i < GGML_TYPE_COUNT; ++i) {
    const char* n = ggml_type_name(static_cast<ggml_type>(i));
    if (n && strcasecmp(n, name.c_str()) == 0) return static_cast<ggml_type>(i);
  }
  std::fprintf(stderr, "llama_peer: unknown ggml type %s\n", name.c_str());
  std::exit(2);
}

// llama-quantize's main (tools/quantize/quantize.cpp) for the options the tests use: the imatrix
// normalised as its load_imatrix does, the same quantize.imatrix.* keys, --tensor-type overrides.
int quantize(const char* in, const char* out, int ftype, bool pure, int nthread, const std::vector<std::string>& options) {
  llama_model_quantize_params qp = llama_model_quantize_default_params();
  qp.ftype = static_cast<llama_ftype>(ftype);
  qp.pure = pure;
  qp.nthread = nthread;
  std::unordered_map<std::string, std::vector<float>> imatrix;
  std::vector<llama_model_imatrix_data> i_data;
  std::vector<llama_model_kv_override> kvs;
  std::vector<std::string> patterns;
  std::vector<llama_model_tensor_override> tt;
  std::string imatrix_file;
  common_imatrix loaded;
  for (const auto& o : options) {
    const auto eq = o.find('=');
    const std::string key = o.substr(0, eq), value = eq == std::string::npos ? "" : o.substr(eq + 1);
    if (key == "imatrix") imatrix_file = value;
    else if (key == "output") qp.output_tensor_type = type_named(value);
    else if (key == "embd") qp.token_embedding_type = type_named(value);
    else if (key == "leave-output") qp.quantize_output_tensor = false;
    else if (key == "keep-split") qp.keep_split = true;
    else if (key == "tt") {
      const auto sep = value.rfind('=');
      patterns.push_back(value.substr(0, sep));
      tt.push_back({nullptr, type_named(value.substr(sep + 1))});
    } else {
      std::fprintf(stderr, "llama_peer: unknown quantize option %s\n", o.c_str());
      return 2;
    }
  }
  for (size_t i = 0; i < tt.size(); ++i) tt[i].pattern = patterns[i].c_str();
  if (!tt.empty()) {
    tt.push_back({nullptr, GGML_TYPE_COUNT});
    qp.tt_overrides = tt.data();
  }
  if (!imatrix_file.empty()) {
    if (!common_imatrix_load(imatrix_file, loaded)) return 8;
    for (const auto& [name, entry] : loaded.entries) {
      auto& e = imatrix[name];
      e.resize(entry.sums.size());
      if (!loaded.is_legacy) {
        const int64_t ncounts = static_cast<int64_t>(entry.counts.size());
        const int64_t ne0 = static_cast<int64_t>(entry.sums.size()) / ncounts;
        for (int64_t j = 0; j < ncounts; ++j) {
          const float count = static_cast<float>(entry.counts[j]);
          for (int64_t i = 0; i < ne0; ++i) e[j * ne0 + i] = count > 0.0f ? entry.sums[j * ne0 + i] / count : 1;
        }
      } else {
        const int64_t ncall = entry.counts.empty() ? 0 : entry.counts[0];
        for (size_t i = 0; i < entry.sums.size(); ++i) e[i] = ncall > 0 ? entry.sums[i] / ncall : entry.sums[i];
      }
    }
    for (const auto& [name, values] : imatrix) i_data.push_back({name.c_str(), values.data(), values.size()});
    i_data.push_back({nullptr, nullptr, 0});
    qp.imatrix = i_data.data();
    auto add_str = [&](const char* key, const std::string& v) {
      llama_model_kv_override k{};
      std::strcpy(k.key, key);
      k.tag = LLAMA_KV_OVERRIDE_TYPE_STR;
      std::strncpy(k.val_str, v.c_str(), 127);
      kvs.push_back(k);
    };
    auto add_int = [&](const char* key, int64_t v) {
      llama_model_kv_override k{};
      std::strcpy(k.key, key);
      k.tag = LLAMA_KV_OVERRIDE_TYPE_INT;
      k.val_i64 = v;
      kvs.push_back(k);
    };
    add_str("quantize.imatrix.file", imatrix_file);
    if (!loaded.datasets.empty()) add_str("quantize.imatrix.dataset", loaded.datasets[0]);
    add_int("quantize.imatrix.entries_count", static_cast<int64_t>(imatrix.size()));
    if (loaded.chunk_count > 0) add_int("quantize.imatrix.chunks_count", loaded.chunk_count);
    kvs.emplace_back();
    kvs.back().key[0] = 0;
    qp.kv_overrides = kvs.data();
  }
  // llama-quantize drops ".gguf" from OUT with --keep-split; the shards are OUT-0000i-of-0000n.gguf.
  std::string out_path = out;
  if (qp.keep_split && out_path.size() > 5 && out_path.compare(out_path.size() - 5, 5, ".gguf") == 0) out_path.resize(out_path.size() - 5);
  return llama_model_quantize(in, out_path.c_str(), &qp) == 0 ? 0 : 7;
}

std::vector<float> read_floats(const char* path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  std::vector<float> v(static_cast<size_t>(f.tellg()) / 4);
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  return v;
}

int quantize_rows(const char* type_name, int64_t n_per_row, const char* in, const char* out, const char* imatrix_path) {
  const ggml_type type = type_named(type_name);
  const auto v = read_floats(in);
  const int64_t rows = static_cast<int64_t>(v.size()) / n_per_row;
  const auto importance = imatrix_path ? read_floats(imatrix_path) : std::vector<float>();
  std::vector<char> dst(ggml_row_size(type, n_per_row) * rows);
  const size_t n = ggml_quantize_chunk(type, v.data(), dst.data(), 0, rows, n_per_row, imatrix_path ? importance.data() : nullptr);
  std::ofstream(out, std::ios::binary).write(dst.data(), static_cast<std::streamsize>(n));
  return 0;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Prompt processing (one batch of n_prompt tokens) and decoding (n_gen single-token steps) speed,
// on fixed token ids, with llama.cpp's default context settings apart from size and threads.
int bench(const char* model_path, int n_prompt, int n_gen, int threads, int repeats) {
  llama_model* model = load(model_path);
  if (!model) return 3;
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(n_prompt + n_gen + 16);
  cp.n_batch = static_cast<uint32_t>(n_prompt);
  cp.n_ubatch = static_cast<uint32_t>(n_prompt);
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return 5;
  std::vector<llama_token> prompt(static_cast<size_t>(n_prompt));
  for (int i = 0; i < n_prompt; ++i) prompt[static_cast<size_t>(i)] = 3 + (i * 37) % (n_vocab - 3);
  double best_pp = 1e30, best_tg = 1e30;
  for (int r = 0; r <= repeats; ++r) {  // round 0 warms up
    llama_memory_clear(llama_get_memory(ctx), true);
    double t0 = now();
    if (llama_decode(ctx, llama_batch_get_one(prompt.data(), n_prompt)) != 0) return 6;
    llama_get_logits_ith(ctx, -1);
    const double pp = now() - t0;
    t0 = now();
    for (int i = 0; i < n_gen; ++i) {
      llama_token t = 3 + (i * 101) % (n_vocab - 3);
      if (llama_decode(ctx, llama_batch_get_one(&t, 1)) != 0) return 6;
      llama_get_logits_ith(ctx, -1);
    }
    const double tg = now() - t0;
    if (r > 0) {
      best_pp = std::min(best_pp, pp);
      best_tg = std::min(best_tg, tg);
    }
  }
  std::printf("pp_tps %.3f tg_tps %.3f\n", n_prompt / best_pp, n_gen / best_tg);
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}

// An encoder (BERT) through llama.cpp: its tokenization of `text` (with the vocabulary's special
// tokens) and the first values of the mean-pooled embedding.
int embed(const char* model_path, const char* text) {
  llama_model* model = load(model_path);
  if (!model) return 3;
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::vector<llama_token> ids;
  if (!tokenize(vocab, text, ids)) return 4;
  print_ids("ids", ids);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = cp.n_batch = cp.n_ubatch = 64;
  cp.n_threads = cp.n_threads_batch = 1;
  cp.embeddings = true;
  cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return 5;
  if (llama_decode(ctx, llama_batch_get_one(ids.data(), static_cast<int32_t>(ids.size()))) != 0) return 6;
  const float* e = llama_get_embeddings_seq(ctx, 0);
  if (!e) return 7;
  std::printf("embedding:");
  for (int i = 0; i < 4; ++i) std::printf(" %.6f", e[i]);
  std::printf("\n");
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}

// An encoder-decoder (T5) through llama.cpp: the tokenization of `text`, then the encoder and n greedy
// decoder steps from the decoder start token.
int seq2seq(const char* model_path, const char* text, int n) {
  llama_model* model = load(model_path);
  if (!model) return 3;
  if (!llama_model_has_encoder(model)) return 10;
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::vector<llama_token> ids;
  if (!tokenize(vocab, text, ids)) return 4;
  print_ids("ids", ids);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = cp.n_batch = cp.n_ubatch = 64;
  cp.n_threads = cp.n_threads_batch = 1;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return 5;
  if (llama_encode(ctx, llama_batch_get_one(ids.data(), static_cast<int32_t>(ids.size()))) != 0) return 6;
  llama_token next = llama_model_decoder_start_token(model);
  std::vector<llama_token> generated;
  const int n_vocab = llama_vocab_n_tokens(vocab);
  for (int i = 0; i < n; ++i) {
    if (llama_decode(ctx, llama_batch_get_one(&next, 1)) != 0) return 7;
    const float* logits = llama_get_logits_ith(ctx, -1);
    next = static_cast<llama_token>(std::max_element(logits, logits + n_vocab) - logits);
    generated.push_back(next);
  }
  print_ids("generated ids", generated);
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: llama_peer BINS_DIR greedy MODEL PROMPT N | quantize IN OUT FTYPE\n");
    return 2;
  }
  llama_log_set(quiet_log, nullptr);
  ggml_backend_load_all_from_path(argv[1]);
  llama_backend_init();
  const std::string verb = argv[2];
  if (verb == "greedy" && argc >= 6 && argc % 2 == 0) {
    std::vector<std::pair<std::string, float>> loras;
    for (int i = 6; i + 1 < argc; i += 2) loras.emplace_back(argv[i], static_cast<float>(std::atof(argv[i + 1])));
    return greedy(argv[3], argv[4], std::atoi(argv[5]), loras);
  }
  if (verb == "embed" && argc == 5) return embed(argv[3], argv[4]);
  if (verb == "seq2seq" && argc == 6) return seq2seq(argv[3], argv[4], std::atoi(argv[5]));
  if (verb == "bench" && argc == 8) {
    return bench(argv[3], std::atoi(argv[4]), std::atoi(argv[5]), std::atoi(argv[6]), std::atoi(argv[7]));
  }
  if (verb == "quantize" && argc >= 6) {
    std::vector<std::string> options(argv + std::min(argc, 8), argv + argc);
    return quantize(argv[3], argv[4], std::atoi(argv[5]), argc > 6 && std::atoi(argv[6]) != 0, argc > 7 ? std::atoi(argv[7]) : 1, options);
  }
  if (verb == "dequantize-rows" && argc == 7) {
    const ggml_type type = type_named(argv[3]);
    const int64_t n = std::atoll(argv[4]);
    std::ifstream f(argv[5], std::ios::binary);
    std::vector<char> blocks(ggml_row_size(type, n));
    f.read(blocks.data(), static_cast<std::streamsize>(blocks.size()));
    std::vector<float> values(static_cast<size_t>(n));
    ggml_get_type_traits(type)->to_float(blocks.data(), values.data(), n);
    std::ofstream(argv[6], std::ios::binary).write(reinterpret_cast<const char*>(values.data()), n * 4);
    return 0;
  }
  if (verb == "quantize-rows" && (argc == 7 || argc == 8)) {
    return quantize_rows(argv[3], std::atoll(argv[4]), argv[5], argv[6], argc == 8 ? argv[7] : nullptr);
  }
  std::fprintf(stderr, "llama_peer: bad arguments\n");
  return 2;
}
