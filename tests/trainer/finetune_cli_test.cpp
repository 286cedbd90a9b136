// `ckpt finetune` end to end, as a user runs it: it learns a generated RAFT set (loss down >= 10x,
// greedy answers reproduced, ROUGE-L from ~0 to > 0.9 through `ckpt eval --compare-base`, the merged
// model equal to `run --lora`), writes a PEFT adapter with PEFT's full config, is deterministic
// across runs and across --nproc 1 / 2 with the same global batch, resumes exactly from a
// checkpoint, and trains the same adapter on a GGUF base (Q/K rows permuted) as on the HF one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/lora_adapter.h"
#include "formats/safetensors.h"
#include "quantize/quantize.h"
#include "runtime/runtime.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

namespace fs = std::filesystem;
const std::string kSample = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";

int ckpt_cli(const std::string& args, const std::string& log) {
  const std::string cmd = std::string(CKPT_BINARY) + " " + args + " >" + log + " 2>&1";
  return std::system(cmd.c_str());
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// RAFT records about who did what where: the answers are spans of the contexts.
std::string write_raft(const std::string& path, size_t n) {
  const char* names[] = {"Lily", "Tom", "Sam", "Mia", "Ben", "Zoe", "Max", "Ann"};
  const char* things[] = {"a red ball", "a big dog", "a small cat", "a blue kite", "an old book", "a green hat"};
  const char* places[] = {"in the park", "near the river", "at home", "by the sea", "under the tree"};
  std::string text;
  for (size_t i = 0; i < n; ++i) {
    const std::string who = names[i % 8], what = things[(i * 5) % 6], where = places[(i * 3) % 5];
    nlohmann::json r = {{"instruction", "Answer the question from the context."},
                        {"context", {who + " saw " + what + " " + where + "."}},
                        {"question", "Where did " + who + " see " + what + "?"},
                        {"answer", where}};
    text += r.dump() + "\n";
  }
  std::ofstream(path) << text;
  return path;
}

std::map<std::string, std::vector<float>> adapter_tensors(const std::string& dir) {
  const auto st = read_safetensors(dir + "/adapter_model.safetensors");
  std::map<std::string, std::vector<float>> out;
  for (const auto& t : st.tensors) {
    EXPECT_EQ(t.dtype, DType::F32) << t.name;
    const auto bytes = st.data(t);
    std::vector<float> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), bytes.size());
    out[t.name] = std::move(v);
  }
  return out;
}

double max_difference(const std::string& a, const std::string& b) {
  const auto x = adapter_tensors(a), y = adapter_tensors(b);
  EXPECT_EQ(x.size(), y.size());
  double worst = 0;
  for (const auto& [name, v] : x) {
    const auto& w = y.at(name);
    for (size_t i = 0; i < v.size(); ++i) worst = std::max(worst, double{std::abs(v[i] - w[i])});
  }
  return worst;
}

const std::string kFast = " --learning_rate 1e-2 --r 4 --lora_alpha 8 --target_modules all-linear --logging_steps 1 --no-progress";

TEST(FinetuneCli, LearnsGeneratedRaftAnswersAndEvalShowsIt) {
  test::TempDir dir;
  const std::string data = write_raft(dir.file("raft.jsonl"), 8), out = dir.file("adapter");
  ASSERT_EQ(ckpt_cli("finetune " + kSample + " --data " + data + " -o " + out +
                         " --learning_rate 1e-2 --r 16 --lora_alpha 32 --target_modules q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,lm_head"
                         " --per_device_train_batch_size 4 --max_steps 120 --logging_steps 10 --save_steps 0 --no-progress",
                     dir.file("train.log")),
            0)
      << slurp(dir.file("train.log"));
  std::vector<nlohmann::json> log;
  std::ifstream in(out + "/training_log.jsonl");
  for (std::string line; std::getline(in, line);) log.push_back(nlohmann::json::parse(line));
  ASSERT_GE(log.size(), 2u);
  for (const char* key : {"step", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_second"}) EXPECT_TRUE(log.front().contains(key)) << key;
  const double first = log.front()["loss"], last = log.back()["loss"];
  EXPECT_GE(first / last, 10.0) << "loss " << first << " -> " << last;
  EXPECT_NE(slurp(out + "/loss.svg").find("<polyline"), std::string::npos);

  // eval: base near 0, adapter > 0.9 ROUGE-L, and greedy answers equal to the trained ones.
  ASSERT_EQ(ckpt_cli("eval " + kSample + " --lora " + out + " --compare-base --data " + data + " -n 16 -o " + dir.file("eval"), dir.file("eval.log")), 0)
      << slurp(dir.file("eval.log"));
  const auto summary = nlohmann::json::parse(slurp(dir.file("eval") + "/summary.json"));
  const double base_l = summary["base"]["rougeL"]["fmeasure_mean"], adapter_l = summary["adapter"]["rougeL"]["fmeasure_mean"];
  EXPECT_LT(base_l, 0.2);
  EXPECT_GT(adapter_l, 0.9);
  std::ifstream examples(dir.file("eval") + "/examples.jsonl");
  size_t exact = 0, n = 0;
  for (std::string line; std::getline(examples, line); ++n) {
    const auto e = nlohmann::json::parse(line);
    std::string p = e["adapter"]["prediction"];
    p.erase(0, p.find_first_not_of(' '));
    exact += p == e["reference"].get<std::string>();
  }
  EXPECT_EQ(exact, n) << "greedy answers reproduced";

  // merge (f32 out) equals run --lora.
  ASSERT_EQ(ckpt_cli("merge " + kSample + " " + out + " -o " + dir.file("merged") + " --outtype f32", dir.file("merge.log")), 0) << slurp(dir.file("merge.log"));
  runtime::Model with = runtime::load_model(kSample);
  runtime::attach_lora(with, {{out, 1.0}});
  const runtime::Model merged = runtime::load_model(dir.file("merged"));
  const std::vector<int32_t> tokens = {1, 60, 61, 62, 200, 201, 300, 7};
  runtime::Forward fa(with, 16, 1, runtime::KvType::F32), fb(merged, 16, 1, runtime::KvType::F32);
  const auto la = fa.eval(tokens, true);
  const std::vector<float> a(la.begin(), la.end());
  const auto lb = fb.eval(tokens, true);
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double{std::abs(a[i] - lb[i])});
  EXPECT_LT(worst, 2e-4);
}

TEST(FinetuneCli, WritesThePeftAdapterLayout) {
  test::TempDir dir;
  const std::string data = write_raft(dir.file("raft.jsonl"), 4), out = dir.file("adapter");
  ASSERT_EQ(ckpt_cli("finetune " + kSample + " --data " + data + " -o " + out + " --max-steps 2 --lora-r 4 --lora-alpha 16 --use-rslora --no-progress",
                     dir.file("log")),
            0)
      << slurp(dir.file("log"));
  const auto config = nlohmann::json::parse(slurp(out + "/adapter_config.json"));
  // The reference field set of PEFT's save_pretrained (../shared/specs/lora-train-eval.md §2.2).
  for (const char* key : {"alpha_pattern", "auto_mapping", "base_model_name_or_path", "bias", "corda_config", "eva_config", "exclude_modules",
                          "fan_in_fan_out", "inference_mode", "init_lora_weights", "layer_replication", "layers_pattern", "layers_to_transform",
                          "loftq_config", "lora_alpha", "lora_bias", "lora_dropout", "megatron_config", "megatron_core", "modules_to_save", "peft_type",
                          "r", "rank_pattern", "revision", "target_modules", "task_type", "use_dora", "use_rslora", "peft_version"}) {
    EXPECT_TRUE(config.contains(key)) << key;
  }
  EXPECT_EQ(config["peft_type"], "LORA");
  EXPECT_EQ(config["task_type"], "CAUSAL_LM");
  EXPECT_TRUE(config["lora_alpha"].is_number_integer());  // Ollama reads it as uint32
  EXPECT_EQ(config["r"], 4);
  EXPECT_EQ(config["use_rslora"], true);
  EXPECT_EQ(config["target_modules"], nlohmann::json({"k_proj", "o_proj", "q_proj", "v_proj"}));
  const auto st = read_safetensors(out + "/adapter_model.safetensors");
  ASSERT_EQ(st.metadata.size(), 1u);
  EXPECT_EQ(st.metadata[0], (std::pair<std::string, std::string>{"format", "pt"}));
  ASSERT_NE(st.find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"), nullptr);
  EXPECT_EQ(st.find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")->shape, (std::vector<uint64_t>{4, 64}));
  EXPECT_EQ(st.find("base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight")->shape, (std::vector<uint64_t>{32, 4}));
  const auto ad = open_lora_adapter(out);
  ASSERT_EQ(ad->modules.size(), 8u);
  EXPECT_DOUBLE_EQ(ad->modules[0].scale, 16.0 / 2.0);  // rsLoRA: alpha / sqrt(r)
}

// A first short run makes a non-zero adapter to start the determinism checks from.
std::string make_init_adapter(const test::TempDir& dir, const std::string& data) {
  const std::string init = dir.file("init");
  EXPECT_EQ(ckpt_cli("finetune " + kSample + " --data " + data + " -o " + init + kFast + " --max_steps 3 --per_device_train_batch_size 4", dir.file("init.log")), 0)
      << slurp(dir.file("init.log"));
  return init;
}

TEST(FinetuneCli, DeterministicAndNprocTwoEqualsOne) {
  test::TempDir dir;
  const std::string data = write_raft(dir.file("raft.jsonl"), 8), init = make_init_adapter(dir, data);
  const std::string common = " --data " + data + " --init-adapter " + init + " --no-shuffle --max_steps 4 --learning_rate 5e-3 --logging_steps 1 --no-progress";
  ASSERT_EQ(ckpt_cli("finetune " + kSample + common + " -o " + dir.file("one-a") + " --per_device_train_batch_size 2 --gradient_accumulation_steps 2", dir.file("a.log")), 0)
      << slurp(dir.file("a.log"));
  ASSERT_EQ(ckpt_cli("finetune " + kSample + common + " -o " + dir.file("one-b") + " --per_device_train_batch_size 2 --gradient_accumulation_steps 2", dir.file("b.log")), 0);
  EXPECT_EQ(test::read_file_bytes(dir.file("one-a") + "/adapter_model.safetensors"), test::read_file_bytes(dir.file("one-b") + "/adapter_model.safetensors"));
  ASSERT_EQ(ckpt_cli("finetune " + kSample + common + " -o " + dir.file("two") + " --per_device_train_batch_size 2 --nproc 2", dir.file("two.log")), 0)
      << slurp(dir.file("two.log"));
  EXPECT_LE(max_difference(dir.file("one-a"), dir.file("two")), 1e-5);
  EXPECT_GT(max_difference(dir.file("one-a"), init), 1e-4);  // the steps changed something
}

TEST(FinetuneCli, ResumeFromACheckpointContinuesExactly) {
  test::TempDir dir;
  const std::string data = write_raft(dir.file("raft.jsonl"), 8);
  const std::string args = " --data " + data + kFast + " --max_steps 4 --save_steps 2 --per_device_train_batch_size 2";
  ASSERT_EQ(ckpt_cli("finetune " + kSample + args + " -o " + dir.file("full"), dir.file("full.log")), 0) << slurp(dir.file("full.log"));
  ASSERT_TRUE(fs::exists(dir.file("full") + "/checkpoint-2/optimizer.pt"));
  fs::create_directories(dir.file("cut"));
  fs::copy(dir.file("full") + "/checkpoint-2", dir.file("cut") + "/checkpoint-2", fs::copy_options::recursive);
  ASSERT_EQ(ckpt_cli("finetune " + kSample + args + " -o " + dir.file("cut") + " --resume", dir.file("cut.log")), 0) << slurp(dir.file("cut.log"));
  EXPECT_EQ(test::read_file_bytes(dir.file("full") + "/adapter_model.safetensors"), test::read_file_bytes(dir.file("cut") + "/adapter_model.safetensors"));
  auto history = [](const std::string& path) {  // everything but the timing
    std::vector<nlohmann::json> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      j.erase("tokens_per_second");
      out.push_back(j);
    }
    return out;
  };
  EXPECT_EQ(history(dir.file("full") + "/training_log.jsonl"), history(dir.file("cut") + "/training_log.jsonl"));
  // Different options do not silently continue someone else's run.
  EXPECT_NE(ckpt_cli("finetune " + kSample + args + " --seed 7 -o " + dir.file("cut") + " --resume", dir.file("bad.log")), 0);
  EXPECT_NE(slurp(dir.file("bad.log")).find("other options"), std::string::npos) << slurp(dir.file("bad.log"));
}

TEST(FinetuneCli, GgufBaseTrainsTheAdapterTheHfBaseDoes) {
  test::TempDir dir;
  const std::string data = write_raft(dir.file("raft.jsonl"), 8), init = make_init_adapter(dir, data);
  ASSERT_EQ(ckpt_cli("convert " + kSample + " -o " + dir.file("s.gguf") + " --outtype f32", dir.file("c.log")), 0) << slurp(dir.file("c.log"));
  const std::string common = " --data " + data + " --init-adapter " + init + " --no-shuffle --max_steps 3 --learning_rate 5e-3 --no-progress --per_device_train_batch_size 4";
  ASSERT_EQ(ckpt_cli("finetune " + kSample + common + " -o " + dir.file("hf"), dir.file("hf.log")), 0) << slurp(dir.file("hf.log"));
  ASSERT_EQ(ckpt_cli("finetune " + dir.file("s.gguf") + common + " -o " + dir.file("gguf"), dir.file("gguf.log")), 0) << slurp(dir.file("gguf.log"));
  EXPECT_LE(max_difference(dir.file("hf"), dir.file("gguf")), 2e-5);
}

}  // namespace
}  // namespace ckpt
