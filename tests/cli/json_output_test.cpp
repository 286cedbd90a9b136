// Every --json output of the ckpt binary parsed by a JSON parser (nlohmann): inspect (schema 2, per-path
// error objects, typed values, the golden schema of the sample), run (one object per sequence), run
// --check, convert / quantize / merge reports, adapter ls, diff, hash, sign, data check / split, eval;
// with a model directory whose path holds
// a double quote, a tab and non-ASCII letters, which must come back exactly.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tests/support/test_support.h"

namespace ckpt {
namespace {

namespace fs = std::filesystem;

struct ChildOutput {
  int code;
  std::string out;
};

// Runs the ckpt binary with `args` (no shell: paths pass through untouched), stdout captured.
ChildOutput ckpt_run(const std::vector<std::string>& args) {
  int pipefd[2];
  EXPECT_EQ(::pipe(pipefd), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], STDOUT_FILENO);
    ::close(pipefd[0]);
    std::FILE* devnull = std::fopen("/dev/null", "w");
    ::dup2(::fileno(devnull), STDERR_FILENO);
    std::vector<char*> argv = {const_cast<char*>(CKPT_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(CKPT_BINARY, argv.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 255, out};
}

nlohmann::json parse(const std::string& text) {
  nlohmann::json j;
  EXPECT_NO_THROW(j = nlohmann::json::parse(text)) << text.substr(0, 400);
  return j;
}

const std::string kSample = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";
const std::string kLora = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama-lora";

// The key -> JSON type tree of a value, arrays by their first element: what the schema promises.
nlohmann::json shape_of(const nlohmann::json& v) {
  if (v.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, x] : v.items()) out[k] = shape_of(x);
    return out;
  }
  if (v.is_array()) return v.empty() ? nlohmann::json::array() : nlohmann::json::array({shape_of(v.front())});
  return v.type_name();
}

class JsonOutput : public ::testing::Test {
 protected:
  void SetUp() override {
    weird_ = dir_.file("m \"q\"\tü-modèle");
    fs::copy(kSample, weird_);
  }
  test::TempDir dir_;
  std::string weird_;
};

TEST_F(JsonOutput, InspectIsSchema2WithErrorObjectsAndExactPaths) {
  const ChildOutput r = ckpt_run({"inspect", "--json", weird_, dir_.file("missing.gguf")});
  EXPECT_EQ(r.code, 1);  // one path failed; the JSON still came out whole
  const auto j = parse(r.out);
  EXPECT_EQ(j["schema_version"], 2);
  ASSERT_EQ(j["results"].size(), 2u);
  const auto& ok = j["results"][0];
  EXPECT_EQ(ok["path"], weird_);
  EXPECT_EQ(ok["architecture"]["name"], "LlamaForCausalLM");
  EXPECT_EQ(ok["architecture"]["layers"], 2);                // a number, not "2"
  EXPECT_EQ(ok["architecture"]["tied_embeddings"], false);   // a boolean
  EXPECT_EQ(ok["architecture"]["norm_epsilon"], 1e-05);
  EXPECT_EQ(ok["properties"]["header_size"].type_name(), std::string("number"));
  EXPECT_EQ(ok["tensors"][0]["shape"], nlohmann::json::array({512, 64}));  // outermost first
  const auto& bad = j["results"][1];
  EXPECT_EQ(bad["path"], dir_.file("missing.gguf"));
  EXPECT_EQ(bad["error"]["code"], "io");
  EXPECT_TRUE(bad["error"]["offset"].is_null());
  // A GGUF names the same things with the same keys.
  ASSERT_EQ(ckpt_run({"convert", weird_, "-o", dir_.file("m.gguf")}).code, 0);
  const auto g = parse(ckpt_run({"inspect", "--json", dir_.file("m.gguf")}).out)["results"][0];
  EXPECT_EQ(g["architecture"]["name"], "llama");
  EXPECT_EQ(g["architecture"]["model_name"], fs::path(weird_).filename().string());
  for (const char* key : {"layers", "hidden_size", "intermediate_size", "attention_heads", "kv_heads", "context_length", "vocabulary"}) {
    EXPECT_EQ(g["architecture"][key], ok["architecture"][key]) << key;
  }
}

// The schema of the sample's inspect JSON, pinned: a change to it is a deliberate edit of this file.
TEST_F(JsonOutput, InspectSchemaMatchesTheGolden) {
  const auto j = parse(ckpt_run({"inspect", "--json", kSample}).out);
  std::ifstream in(std::string(CKPT_SOURCE_DIR) + "/tests/cli/data/inspect_schema.golden.json");
  ASSERT_TRUE(in) << "tests/cli/data/inspect_schema.golden.json is missing";
  const auto golden = nlohmann::json::parse(in);
  EXPECT_EQ(shape_of(j), golden) << shape_of(j).dump(2);
}

TEST_F(JsonOutput, RunConvertQuantizeMergeAdapterDiff) {
  const ChildOutput run = ckpt_run({"run", weird_, "-p", "Once \"upon\"\ta time ü", "-n", "3", "--temp", "0", "--json", "--n-seq", "2"});
  ASSERT_EQ(run.code, 0);
  std::istringstream lines(run.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const auto j = parse(line);
    EXPECT_EQ(j["model"], weird_);
    EXPECT_EQ(j["prompt"], "Once \"upon\"\ta time ü");
    EXPECT_EQ(j["ids"].size(), 3u);
    EXPECT_EQ(j["stop_reason"], "length");
    EXPECT_EQ(j["sequence"], ++n);
    EXPECT_GT(j["timings"]["prompt_seconds"].get<double>(), 0.0);
    EXPECT_TRUE(j["device"].get<std::string>().starts_with("cpu") || j["device"].get<std::string>().starts_with("cuda")) << j["device"];
  }
  EXPECT_EQ(n, 2);
  ASSERT_EQ(ckpt_run({"convert", weird_, "-o", dir_.file("m2.gguf")}).code, 0);
  const ChildOutput chk = ckpt_run({"run", weird_, "--check", dir_.file("m2.gguf"), "-p", "Once", "-n", "2", "--json"});
  ASSERT_EQ(chk.code, 0);
  EXPECT_TRUE(parse(chk.out).is_object());
  const ChildOutput dev = ckpt_run({"run", weird_, "--device", "cpu", "--check-device", "cpu", "-p", "Once", "-n", "2", "--json"});
  ASSERT_EQ(dev.code, 0);
  const auto devj = parse(dev.out);
  EXPECT_TRUE(devj["a_device"].get<std::string>().starts_with("cpu (")) << devj;
  EXPECT_TRUE(devj["b_device"].get<std::string>().starts_with("cpu (")) << devj;
  EXPECT_EQ(devj["max_abs_diff"], 0.0);
  const auto conv = parse(ckpt_run({"convert", weird_, "-o", dir_.file("x.gguf"), "--dry-run", "--json"}).out);
  EXPECT_EQ(conv["input"], weird_);
  EXPECT_EQ(conv["tensors"].size(), 21u);
  const auto quant = parse(ckpt_run({"quantize", dir_.file("m2.gguf"), dir_.file("q.gguf"), "Q8_0", "--json"}).out);
  EXPECT_EQ(quant["outputs"][0], dir_.file("q.gguf"));
  EXPECT_GT(quant["bytes_before"].get<uint64_t>(), quant["bytes_after"].get<uint64_t>());
  const auto merge = parse(ckpt_run({"merge", weird_, kLora, "-o", dir_.file("merged"), "--json"}).out);
  EXPECT_EQ(merge["tensors"].size(), 8u);
  EXPECT_TRUE(merge["tensors"][0]["nf4_noise_ratio"].is_null());
  ASSERT_EQ(ckpt_run({"convert", weird_, "-o", dir_.file("a.ckpt")}).code, 0);
  ASSERT_EQ(ckpt_run({"adapter", "add", dir_.file("a.ckpt"), kLora, "--name", "demo"}).code, 0);
  const auto ls = parse(ckpt_run({"adapter", "ls", dir_.file("a.ckpt"), "--json"}).out);
  EXPECT_EQ(ls[0]["name"], "demo");
  EXPECT_EQ(ls[0]["bound_to_this_base"], true);
  const auto verified = parse(ckpt_run({"verify", dir_.file("a.ckpt"), weird_, "--json"}).out);
  ASSERT_EQ(verified["results"].size(), 2u);
  EXPECT_EQ(verified["results"][0]["ok"], true);
  EXPECT_EQ(verified["results"][0]["adapters"], 1);
  EXPECT_EQ(verified["results"][0]["signature"]["signed"], false);
  EXPECT_EQ(verified["results"][1]["path"], weird_);
  EXPECT_EQ(verified["results"][1]["error"]["code"], "not-found");  // nothing to check a plain directory against
  const ChildOutput diff = ckpt_run({"diff", weird_, dir_.file("merged"), "--json"});
  EXPECT_EQ(diff.code, 3);  // the merge changed 8 tensors
  EXPECT_TRUE(parse(diff.out).is_object());
}

TEST_F(JsonOutput, HashSignDataEval) {
  const auto hash = parse(ckpt_run({"hash", weird_, "-o", dir_.file("m.sha256.json"), "--json"}).out);
  EXPECT_EQ(hash["model"], weird_);
  EXPECT_EQ(hash["tensors"], 21);
  // sign: an Ed25519 key as `openssl genpkey -algorithm ed25519` writes it.
  ASSERT_EQ(ckpt_run({"convert", weird_, "-o", dir_.file("s.ckpt")}).code, 0);
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  ASSERT_NE(k, nullptr);
  std::FILE* f = std::fopen(dir_.file("k.pem").c_str(), "wb");
  PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  EVP_PKEY_free(k);
  const auto sign = parse(ckpt_run({"sign", dir_.file("s.ckpt"), "--key", dir_.file("k.pem"), "--json"}).out);
  EXPECT_EQ(sign["signed"], true);
  EXPECT_EQ(sign["manifest_sha256"].get<std::string>().size(), 64u);
  // data check: counts, and a bad line as a problem object with its line and byte offset.
  const std::string data = dir_.file("d \"x\".jsonl");
  std::ofstream(data) << "{\"prompt\": \"p\", \"completion\": \"c\"}\n{\"prompt\": 3}\n";
  const ChildOutput chk = ckpt_run({"data", "check", data, "--json"});
  EXPECT_EQ(chk.code, 1);  // an invalid record; the JSON still came out
  const auto c = parse(chk.out);
  EXPECT_EQ(c["file"], data);
  EXPECT_EQ(c["valid"], 1);
  EXPECT_EQ(c["errors"], 2);  // the prompt is a number and the completion is missing
  ASSERT_EQ(c["problems"].size(), 2u);
  EXPECT_EQ(c["problems"][0]["line"], 2);
  EXPECT_EQ(c["problems"][0]["offset"], 35);  // the second line starts after 35 bytes
  EXPECT_EQ(c["problems"][0]["field"], "prompt");
  const std::string demo = std::string(CKPT_SOURCE_DIR) + "/samples/raft-demo.jsonl";
  const auto sized = parse(ckpt_run({"data", "check", demo, "--model", weird_, "--json"}).out);
  EXPECT_GT(sized["tokens"]["mean"].get<double>(), 0.0);
  fs::copy_file(demo, dir_.file("demo.jsonl"));
  const auto split = parse(ckpt_run({"data", "split", dir_.file("demo.jsonl"), "--val", "0.25", "--json"}).out);
  EXPECT_EQ(split["train"]["records"].get<int>() + split["validation"]["records"].get<int>(), sized["valid"].get<int>());
  // eval: the summary (what summary.json holds) on stdout.
  const ChildOutput ev = ckpt_run({"eval", weird_, "--data", demo, "-n", "2", "--show", "1", "--json"});
  ASSERT_EQ(ev.code, 0);
  const auto e = parse(ev.out);
  EXPECT_EQ(e["examples"], sized["valid"]);
  EXPECT_TRUE(e["model"]["rouge1"]["fmeasure_mean"].is_number());
  EXPECT_TRUE(e["model"]["bleu"]["score"].is_number());
  EXPECT_EQ(e["shown"].size(), 1u);
}

}  // namespace
}  // namespace ckpt
