// Writes small valid GGUF and safetensors files as seed corpora for the fuzzers (made at test time).
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "formats/ckpt_archive.h"
#include "formats/ckpt_archive_adapters.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "tests/support/torch_bin_writer.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::filesystem::path dir(argv[1]);
  std::filesystem::create_directories(dir / "gguf");
  std::filesystem::create_directories(dir / "safetensors");
  const std::vector<std::byte> data(256, std::byte{0x3c});
  // .ckpt archives: two tensors and a compressed and a raw section; an empty one.
  std::filesystem::create_directories(dir / "ckpt_archive");
  {
    const std::string cfg = "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8}";
    const auto cfg_bytes = std::as_bytes(std::span(cfg.data(), cfg.size()));
    ckpt::write_ckpt_archive((dir / "ckpt_archive" / "small.ckpt").string(), "hf-checkpoint",
                             {{"w", ckpt::DType::F16, {4, 32}, std::span(data)}, {"blk.1.q", ckpt::DType::Q8_0, {1, 32}, std::span(data).first(34)}},
                             {{"config.json", "file", {cfg_bytes.begin(), cfg_bytes.end()}, true}, {"raw", "file", {cfg_bytes.begin(), cfg_bytes.end()}, false}}, 1);
    ckpt::write_ckpt_archive((dir / "ckpt_archive" / "empty.ckpt").string(), "gguf", {}, {}, 1);
    // An adapter bound to tensor "w", and the source's tensor order.
    ckpt::CkptAdapter x;
    x.name = "a";
    x.format = "peft";
    x.base.tensors = {{"w", ckpt::sha256(std::span(data))}};
    auto sections = ckpt::ckpt_adapter_sections(x, {{"adapter_config.json", {cfg_bytes.begin(), cfg_bytes.end()}}});
    const std::string order = "[\"w\", \"blk.1.q\"]";
    const auto order_bytes = std::as_bytes(std::span(order.data(), order.size()));
    sections.push_back({"tensor-order", "tensor-order", {order_bytes.begin(), order_bytes.end()}, false});
    ckpt::write_ckpt_archive((dir / "ckpt_archive" / "adapter.ckpt").string(), "gguf",
                             {{"w", ckpt::DType::F16, {4, 32}, std::span(data)}, {"blk.1.q", ckpt::DType::Q8_0, {1, 32}, std::span(data).first(34)}},
                             std::move(sections), 1);
  }
  // Importance matrices: llama-imatrix's GGUF layout and the legacy .dat one.
  std::filesystem::create_directories(dir / "imatrix");
  {
    const float sums[] = {4.0f, 0.0f, 9.5f, 1.0f}, counts[] = {2.0f, 0.0f};
    ckpt::write_gguf((dir / "imatrix" / "small.gguf").string(),
                     {{"imatrix.datasets", ckpt::GgufValue::string_array({"calib"}), 0},
                      {"imatrix.chunk_count", {uint32_t{2}}, 0},
                      {"imatrix.chunk_size", {uint32_t{512}}, 0}},
                     {{"w.in_sum2", {4, 1}, ckpt::DType::F32, ckpt::write_bytes_from(std::as_bytes(std::span(sums)))},
                      {"w.counts", {2, 1}, ckpt::DType::F32, ckpt::write_bytes_from(std::as_bytes(std::span(counts)))}});
    std::ofstream dat(dir / "imatrix" / "small.dat", std::ios::binary);
    const int32_t head[] = {1, 1};
    dat.write(reinterpret_cast<const char*>(head), 8);
    dat.write("w", 1);
    const int32_t counts_and_n[] = {3, 2};
    dat.write(reinterpret_cast<const char*>(counts_and_n), 8);
    const float values[] = {0.5f, 2.0f};
    dat.write(reinterpret_cast<const char*>(values), 8);
    const int32_t tail[] = {7, 5};
    dat.write(reinterpret_cast<const char*>(tail), 8);
    dat.write("calib", 5);
  }
  const float scores[] = {0.0f, -1.5f, 2.25f};
  const int32_t types[] = {1, 3, 6};
  ckpt::write_gguf((dir / "gguf" / "small.gguf").string(),
                   {{"general.architecture", {std::string("llama")}, 0},
                    {"general.alignment", {uint32_t{16}}, 0},
                    {"llama.block_count", {uint32_t{1}}, 0},
                    {"llama.rope.freq_base", {10000.0f}, 0},
                    {"flag", {true}, 0},
                    {"big", {uint64_t{1} << 40}, 0},
                    {"tokenizer.ggml.tokens", ckpt::GgufValue::string_array({"<unk>", "<s>", "a"}), 0},
                    {"tokenizer.ggml.scores", ckpt::GgufValue::numeric_array<float>(ckpt::GgufType::F32, scores), 0},
                    {"tokenizer.ggml.token_type", ckpt::GgufValue::numeric_array<int32_t>(ckpt::GgufType::I32, types), 0}},
                   {{"token_embd.weight", {4, 3}, ckpt::DType::F32, ckpt::write_bytes_from(std::span(data).first(48))},
                    {"blk.0.attn_q.weight", {32, 2}, ckpt::DType::Q8_0, ckpt::write_bytes_from(std::span(data).first(68))},
                    {"blk.0.ffn_up.weight", {256}, ckpt::DType::Q4_K, ckpt::write_bytes_from(std::span(data).first(144))}});
  ckpt::write_gguf((dir / "gguf" / "empty.gguf").string(), {}, {});
  ckpt::write_safetensors((dir / "safetensors" / "small.safetensors").string(),
                          {{"a", ckpt::DType::F32, {2, 3}, ckpt::write_bytes_from(std::span(data).first(24))},
                           {"b", ckpt::DType::BF16, {4}, ckpt::write_bytes_from(std::span(data).first(8))},
                           {"s", ckpt::DType::I64, {}, ckpt::write_bytes_from(std::span(data).first(8))},
                           {"z", ckpt::DType::U8, {0, 3}, ckpt::write_bytes_from({})}},
                          {{"format", "pt"}});
  ckpt::write_safetensors((dir / "safetensors" / "empty.safetensors").string(), {}, {});
  std::filesystem::create_directories(dir / "torch_bin");
  const auto bin = ckpt::test::torch_save_bytes({{"a.weight", ckpt::DType::F32, {2, 2}, std::vector<std::byte>(16)},
                                                 {"a.bias", ckpt::DType::F16, {2}, std::vector<std::byte>(4)}});
  std::ofstream(dir / "torch_bin" / "small.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(bin.data()), static_cast<std::streamsize>(bin.size()));
  // llama2.c: dim 8, hidden 16, 1 layer, 2 heads, 2 kv heads, vocab 4 (shared classifier), seq_len 4.
  std::filesystem::create_directories(dir / "llama2c");
  const int32_t header[7] = {8, 16, 1, 2, 2, 4, 4};
  std::vector<char> model(28 + 4 * (4 * 8 + 8 + 4 * 64 + 8 + 3 * 128 + 8 + 4 * 4), 0);
  std::memcpy(model.data(), header, 28);
  std::ofstream(dir / "llama2c" / "small.bin", std::ios::binary).write(model.data(), static_cast<std::streamsize>(model.size()));
  // PEFT adapter: u32 config length, adapter_config.json, adapter_model.safetensors (one rsLoRA module
  // with a rank pattern, and a modules_to_save tensor).
  std::filesystem::create_directories(dir / "peft_adapter");
  const std::string config =
      R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "use_rslora": true, "rank_pattern": {"q_proj": 2}, "alpha_pattern": {"v": 1}, "use_dora": false})";
  const std::string st = (dir / "peft_adapter" / "weights.tmp").string();
  ckpt::write_safetensors(st,
                          {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", ckpt::DType::F32, {2, 4}, ckpt::write_bytes_from(std::span(data).first(32))},
                           {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", ckpt::DType::F32, {4, 2}, ckpt::write_bytes_from(std::span(data).first(32))},
                           {"base_model.model.lm_head.weight", ckpt::DType::BF16, {2, 2}, ckpt::write_bytes_from(std::span(data).first(8))}},
                          {{"format", "pt"}});
  std::ifstream in(st, std::ios::binary);
  const std::string weights((std::istreambuf_iterator<char>(in)), {});
  std::filesystem::remove(st);
  const uint32_t len = static_cast<uint32_t>(config.size());
  std::ofstream seed(dir / "peft_adapter" / "small", std::ios::binary);
  seed.write(reinterpret_cast<const char*>(&len), 4);
  seed << config << weights;
  return 0;
}
