// Writes the hostile-input catalog of the CLI tests into DIR (generated at test time, not committed):
// one file or directory per defect class of issue 9, each named after what is wrong with it. The
// expected outcome of each lives beside its ctest in tests/cli/CMakeLists.txt.
// Usage: write_hostile_inputs DIR SAMPLE_DIR   (SAMPLE_DIR: samples/tiny-llama)
#include <cstdint>
#include <cmath>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/ckpt_archive.h"
#include "formats/ckpt_archive_adapters.h"
#include "formats/float_convert.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "tests/support/torch_bin_writer.h"

namespace fs = std::filesystem;
using namespace ckpt;
using namespace std::string_literals;

namespace {

void write_file(const fs::path& path, const void* data, size_t n) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}
void write_file(const fs::path& path, const std::string& text) { write_file(path, text.data(), text.size()); }
void write_file(const fs::path& path, const std::vector<std::byte>& bytes) { write_file(path, bytes.data(), bytes.size()); }

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A copy of the sample checkpoint whose config.json is edited by `edit`.
void sample_with_config(const fs::path& sample, const fs::path& out, const std::function<void(nlohmann::ordered_json&)>& edit) {
  fs::create_directories(out);
  for (const auto& e : fs::directory_iterator(sample)) fs::copy_file(e.path(), out / e.path().filename(), fs::copy_options::overwrite_existing);
  auto config = nlohmann::ordered_json::parse(read_text(sample / "config.json"));
  edit(config);
  write_file(out / "config.json", config.dump(2));
}

const std::string kLlamaConfig = R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "num_hidden_layers": 1,
  "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 4})";

// --- pickles -------------------------------------------------------------------------------------

// 200,000 nested lists (]]]...aaa.): a recursive reader or destructor overflows the stack.
std::string nested_list_pickle(int depth) {
  std::string p = "\x80\x02";
  p += std::string(static_cast<size_t>(depth), ']');
  p += std::string(static_cast<size_t>(depth - 1), 'a');
  return p + ".";
}

// "Billion laughs": level k is a dict holding level k-1 ten times through the memo. The top-level dict
// is {"levels": (L0, ..., L8), "model": L8}; walking "model" names 10^8 tensors unless shared dicts are refused.
std::string memo_fanout_pickle(int levels) {
  std::string p = "\x80\x02}(X\x06\x00\x00\x00levels("s;
  p += "}q\x00"s;  // level 0: empty dict, memo 0
  for (int level = 1; level <= levels; ++level) {
    p += "}("s;
    for (int i = 0; i < 10; ++i) {
      p += "X\x02\x00\x00\x00k"s + static_cast<char>('0' + i);
      p += "h"s + static_cast<char>(level - 1);  // BINGET the previous level
    }
    p += "uq"s + static_cast<char>(level);  // SETITEMS, BINPUT level
  }
  p += "tX\x05\x00\x00\x00modelh"s + static_cast<char>(levels) + "u"s;
  return p + ".";
}

void set_u16(std::vector<std::byte>& b, size_t at, uint16_t v) { std::memcpy(b.data() + at, &v, 2); }
void set_u32(std::vector<std::byte>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
size_t find_sig(const std::vector<std::byte>& b, uint32_t sig, size_t from = 0) {
  for (size_t i = from; i + 4 <= b.size(); ++i) {
    uint32_t v;
    std::memcpy(&v, b.data() + i, 4);
    if (v == sig) return i;
  }
  return SIZE_MAX;
}

// A torch archive whose data.pkl claims to be deflated to 1 GiB from a few bytes.
std::vector<std::byte> zip_bomb() {
  auto b = test::torch_archive_with_pickle("\x80\x02}."s);
  const size_t local = find_sig(b, 0x04034b50), central = find_sig(b, 0x02014b50);
  set_u16(b, local + 8, 8);
  set_u32(b, local + 22, uint32_t{1} << 30);
  set_u16(b, central + 10, 8);
  set_u32(b, central + 24, uint32_t{1} << 30);
  return b;
}

std::vector<std::byte> tensor_bytes(size_t n_floats) {
  std::vector<std::byte> out(n_floats * 4);
  for (size_t i = 0; i < n_floats; ++i) {
    const float v = 0.01f * static_cast<float>(i % 17);
    std::memcpy(out.data() + 4 * i, &v, 4);
  }
  return out;
}

// --- GGUF ----------------------------------------------------------------------------------------

// A PEFT adapter for the sample (hidden 64, kv 32, 2 layers): `modules` maps a module to (out, in, r);
// values are a fixed pattern scaled so the adapter visibly changes generation. `config` is merged in.
void write_peft_adapter(const fs::path& dir, const std::vector<std::pair<std::string, std::vector<uint64_t>>>& modules,
                        const nlohmann::ordered_json& config, float poison = 0.0f) {
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float scale) {
    auto v = std::make_shared<std::vector<float>>(shape[0] * shape[1]);
    for (size_t i = 0; i < v->size(); ++i) v->at(i) = scale * std::sin(0.7f * static_cast<float>(i) + static_cast<float>(name.size()));
    if (poison != 0.0f && name.find("lora_B") != std::string::npos) v->at(3) = poison;
    tensors.push_back({name, DType::F32, shape, [v](ByteSink& sink) { sink.write(std::as_bytes(std::span(*v))); }});
  };
  for (const auto& [m, d] : modules) {
    if (d[2] == 0) continue;
    add("base_model.model." + m + ".lora_A.weight", {d[2], d[1]}, 0.3f);
    if (d.size() < 4) add("base_model.model." + m + ".lora_B.weight", {d[0], d[2]}, 0.3f);  // a 4th entry drops lora_B
  }
  fs::create_directories(dir);
  write_safetensors((dir / "adapter_model.safetensors").string(), std::move(tensors), {{"format", "pt"}});
  nlohmann::ordered_json c = {{"peft_type", "LORA"}, {"r", 4}, {"lora_alpha", 8}, {"target_modules", {"q_proj", "v_proj"}}};
  c.update(config);
  write_file(dir / "adapter_config.json", c.dump(2));
}

void write_adapters(const fs::path& dir) {
  const std::vector<std::pair<std::string, std::vector<uint64_t>>> good = {
      {"model.layers.0.self_attn.q_proj", {64, 64, 4}}, {"model.layers.0.self_attn.v_proj", {32, 64, 4}},
      {"model.layers.1.self_attn.q_proj", {64, 64, 4}}, {"model.layers.1.self_attn.v_proj", {32, 64, 4}}};
  write_peft_adapter(dir / "lora-good", good, nlohmann::ordered_json::object());
  write_peft_adapter(dir / "lora-rslora", good, {{"use_rslora", true}, {"alpha_pattern", {{"v_proj", 2}}}});
  write_peft_adapter(dir / "lora-wrong-shape", {{"model.layers.0.self_attn.q_proj", {32, 64, 4}}, {"model.layers.9.self_attn.q_proj", {64, 64, 4}}},
                     nlohmann::ordered_json::object());
  write_peft_adapter(dir / "lora-half", {{"model.layers.0.self_attn.q_proj", {64, 64, 4, 0}}}, nlohmann::ordered_json::object());
  write_peft_adapter(dir / "lora-bad-regex", good, {{"rank_pattern", {{"q_proj(", 2}}}});
  write_peft_adapter(dir / "lora-replicated", good, {{"layer_replication", {{0, 2}}}});
  write_peft_adapter(dir / "lora-rank-mismatch", good, {{"r", 8}});
  write_peft_adapter(dir / "lora-nan", good, nlohmann::ordered_json::object(), std::nanf(""));
  write_peft_adapter(dir / "lora-loha", good, {{"peft_type", "LOHA"}});
}

GgufTensorToWrite f32_tensor(const std::string& name, std::vector<uint64_t> ne) {
  uint64_t n = 1;
  for (auto d : ne) n *= d;
  auto bytes = std::make_shared<std::vector<std::byte>>(tensor_bytes(n));
  return {name, ne, DType::F32, [bytes](ByteSink& s) { s.write(*bytes); }};
}

std::vector<GgufKv> llama_kvs(uint64_t heads, uint64_t layers, float rope_base) {
  return {{"general.architecture", {"llama"s}, 0},
          {"llama.block_count", {static_cast<uint32_t>(layers)}, 0},
          {"llama.context_length", {uint32_t{64}}, 0},
          {"llama.embedding_length", {uint32_t{32}}, 0},
          {"llama.feed_forward_length", {uint32_t{64}}, 0},
          {"llama.attention.head_count", {static_cast<uint32_t>(heads)}, 0},
          {"llama.rope.freq_base", {rope_base}, 0}};
}

// Raw GGUF bytes with one KV, for values the writer refuses to produce.
std::vector<std::byte> gguf_with_raw_kv(const std::string& key, uint32_t type, const std::string& value_bytes,
                                        const std::string& tensor_name = "t") {
  std::string s = "GGUF";
  auto u32 = [&](uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); };
  auto u64 = [&](uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); };
  u32(3);
  u64(1);  // tensors
  u64(1);  // kvs
  u64(key.size());
  s += key;
  u32(type);
  s += value_bytes;
  u64(tensor_name.size());
  s += tensor_name;
  u32(1);
  u64(8);
  u32(0);  // F32
  u64(0);
  while (s.size() % 32) s += '\0';
  s += std::string(32, '\0');
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

std::string fmt_tensor_entry(int i) {
  const uint64_t begin = static_cast<uint64_t>(i) * 4;
  return "\"t" + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" + std::to_string(begin) + "," +
         std::to_string(begin + 4) + "]}";
}

std::string gguf_string(const std::string& v) {
  const uint64_t n = v.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + v;
}

// --- the big model for the fault tests ------------------------------------------------------------

// A ~200 MB bf16 llama with the sample's tokenizer, so an interrupted conversion is interrupted mid-way.
void big_llama(const fs::path& sample, const fs::path& out) {
  const uint64_t vocab = 512, d = 1024, ff = 2816, layers = 8;
  sample_with_config(sample, out, [&](nlohmann::ordered_json& c) {
    c["hidden_size"] = d;
    c["intermediate_size"] = ff;
    c["num_hidden_layers"] = layers;
    c["num_attention_heads"] = 8;
    c["num_key_value_heads"] = 8;
  });
  std::vector<TensorToWrite> tensors;
  uint64_t state = 42;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape) {
    uint64_t n = 1;
    for (auto x : shape) n *= x;
    auto data = std::make_shared<std::vector<uint16_t>>(n);
    for (auto& v : *data) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      v = f32_to_bf16(static_cast<float>(static_cast<int32_t>(state >> 40) % 2000) * 1e-5f);
    }
    tensors.push_back({name, DType::BF16, shape, [data](ByteSink& s) { s.write(std::as_bytes(std::span(*data))); }});
  };
  add("model.embed_tokens.weight", {vocab, d});
  add("lm_head.weight", {vocab, d});
  add("model.norm.weight", {d});
  for (uint64_t i = 0; i < layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (const char* w : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"}) add(p + w + ".weight", {d, d});
    add(p + "mlp.gate_proj.weight", {ff, d});
    add(p + "mlp.up_proj.weight", {ff, d});
    add(p + "mlp.down_proj.weight", {d, ff});
    add(p + "input_layernorm.weight", {d});
    add(p + "post_attention_layernorm.weight", {d});
  }
  write_safetensors((out / "model.safetensors").string(), std::move(tensors), {{"format", "pt"}});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: write_hostile_inputs DIR SAMPLE_DIR\n");
    return 2;
  }
  const fs::path dir(argv[1]), sample(argv[2]);
  fs::create_directories(dir);

  // A sound archive whose adapter is bound to other bytes than its tensor holds (as after copying an
  // adapter section between archives by hand): verify names it; run and merge refuse it.
  {
    const std::vector<std::byte> data(64, std::byte{7}), other(64, std::byte{8});
    CkptAdapter x;
    x.name = "stale";
    x.format = "peft";
    x.base.tensors = {{"t", sha256(other)}};
    write_ckpt_archive((dir / "adapter-unbound.ckpt").string(), "hf-checkpoint", {{"t", DType::U8, {64}, data}},
                       ckpt_adapter_sections(x, {{"adapter_config.json", {std::byte{'{'}, std::byte{'}'}}}}), 1);
  }
  // Pickles: code execution, nesting, memo fan-out, deflate bomb, duplicate entries, index conflicts.
  write_file(dir / "evil/config.json", R"({"architectures": ["LlamaForCausalLM"]})"s);
  write_file(dir / "evil/pytorch_model.bin", test::torch_archive_with_pickle("\x80\x02" "cposix\nsystem\n" "X\x02\x00\x00\x00" "ls\x85R."s));
  write_file(dir / "nested-pickle/config.json", kLlamaConfig);
  write_file(dir / "nested-pickle/pytorch_model.bin", test::torch_archive_with_pickle(nested_list_pickle(200000)));
  // 600,000 one-byte objects left on the stack (600 kB): memory must stay bounded by the input.
  write_file(dir / "wide-pickle/config.json", kLlamaConfig);
  write_file(dir / "wide-pickle/pytorch_model.bin", test::torch_archive_with_pickle("\x80\x02"s + std::string(600000, ']') + "."));
  write_file(dir / "memo-fanout/config.json", kLlamaConfig);
  write_file(dir / "memo-fanout/pytorch_model.bin", test::torch_archive_with_pickle(memo_fanout_pickle(7)));
  write_file(dir / "zip-bomb/config.json", kLlamaConfig);
  write_file(dir / "zip-bomb/pytorch_model.bin", zip_bomb());
  write_file(dir / "dup-zip/pytorch_model.bin", test::zip_archive({{"archive/data.pkl", "\x80\x02}."s}, {"archive/data.pkl", "\x80\x02}."s}}));
  {
    // Tensor "a" in both shards; the index assigns it to the first.
    const std::vector<test::TorchTensorSpec> a = {{"a", DType::F32, {2}, tensor_bytes(2)}};
    const std::vector<test::TorchTensorSpec> ab = {{"a", DType::F32, {2}, tensor_bytes(2)}, {"b", DType::F32, {2}, tensor_bytes(2)}};
    write_file(dir / "dup-shards/pytorch_model-00001-of-00002.bin", test::torch_save_bytes(a));
    write_file(dir / "dup-shards/pytorch_model-00002-of-00002.bin", test::torch_save_bytes(ab));
    write_file(dir / "dup-shards/pytorch_model.bin.index.json",
               R"({"weight_map": {"a": "pytorch_model-00001-of-00002.bin", "b": "pytorch_model-00002-of-00002.bin"}})"s);
    write_file(dir / "torch-bin/pytorch_model.bin", test::torch_save_bytes(a));
  }

  write_adapters(dir);
  // GGUF: hyper-parameters that used to divide by zero or be copied into config.json.
  write_gguf((dir / "heads0.gguf").string(), llama_kvs(0, 1, 10000.0f), {f32_tensor("token_embd.weight", {32, 4})});
  // A tensor name with a terminal escape: tables that print names show it escaped.
  write_gguf((dir / "ctrl-name.gguf").string(), llama_kvs(4, 1, 10000.0f), {f32_tensor("evil\x1b[2Jname.weight", {32, 4})});
  write_gguf((dir / "layers0.gguf").string(), llama_kvs(4, 0, 10000.0f), {f32_tensor("token_embd.weight", {32, 4})});
  write_gguf((dir / "rope-nan.gguf").string(), llama_kvs(4, 1, std::nanf("")), {f32_tensor("token_embd.weight", {32, 4})});
  {
    auto kvs = llama_kvs(4, 1, 10000.0f);
    write_gguf((dir / "zero-width.gguf").string(), kvs,
               {f32_tensor("token_embd.weight", {32, 4}), f32_tensor("blk.0.attn_q.weight", {0, 32})});
  }
  // A GGUF LoRA adapter as llama.cpp's converter writes one (r 4, alpha 16): inspect shows it, the
  // operations that need a model refuse it by name.
  write_gguf((dir / "lora.gguf").string(),
             {{"general.architecture", {"llama"s}, 0}, {"general.type", {"adapter"s}, 0}, {"adapter.type", {"lora"s}, 0},
              {"adapter.lora.alpha", {16.0f}, 0}},
             {f32_tensor("blk.0.attn_q.weight.lora_a", {32, 4}), f32_tensor("blk.0.attn_q.weight.lora_b", {4, 32})});
  write_file(dir / "bool2.gguf", gguf_with_raw_kv("general.flag", 7, "\x02"s));
  write_file(dir / "key-not-utf8.gguf", gguf_with_raw_kv("general.\xff", 4, "\x01\x00\x00\x00"s));
  write_file(dir / "name-not-utf8.gguf", gguf_with_raw_kv("general.x", 4, "\x01\x00\x00\x00"s, "t\xc0"));
  write_file(dir / "value-not-utf8.gguf", gguf_with_raw_kv("general.name", 8, gguf_string("caf\xe9")));
  {
    // 70,000 tiny KVs (past the cap) and 60,000 (inside it: inspect must stay small and fast).
    for (const auto& [name, count] : {std::pair{"many-kvs.gguf", 70000}, std::pair{"tiny-kvs.gguf", 60000}}) {
      std::vector<GgufKv> kvs;
      for (int i = 0; i < count; ++i) kvs.push_back({"k" + std::to_string(i), {uint8_t{1}}, 0});
      write_gguf((dir / name).string(), kvs, {});
    }
    // One 32 MiB u8 array: inspect --full caps what it prints.
    std::vector<uint8_t> big(size_t{32} << 20, 7);
    write_gguf((dir / "big-array.gguf").string(),
               {{"general.architecture", {"llama"s}, 0}, {"big", GgufValue::numeric_array<uint8_t>(GgufType::U8, big), 0}}, {});
  }

  // safetensors headers the reference reader refuses.
  auto st_with_header = [](std::string header) {
    const uint64_t n = header.size();
    return std::string(reinterpret_cast<const char*>(&n), 8) + header;
  };
  write_file(dir / "nul-header.safetensors", st_with_header("{}\0\0\0\0\0\0"s));
  write_file(dir / "bom-header.safetensors", st_with_header("\xef\xbb\xbf{}     "s));
  {
    // A 10 MB header of 150,000 tensors: parsing must stay linear.
    std::string header = "{";
    for (int i = 0; i < 150000; ++i) {
      header += (i ? "," : "") + fmt_tensor_entry(i);
    }
    header += "}";
    while (header.size() % 8) header += ' ';
    write_file(dir / "huge-header.safetensors", st_with_header(header) + std::string(150000 * 4, '\0'));
  }

  // Checkpoints whose tensors disagree with config.json (used to be converted with exit 0).
  sample_with_config(sample, dir / "wrong-width", [](auto& c) { c["intermediate_size"] = 128; });
  sample_with_config(sample, dir / "extra-layer-in-config", [](auto& c) { c["num_hidden_layers"] = 3; });
  sample_with_config(sample, dir / "fewer-layers-in-config", [](auto& c) { c["num_hidden_layers"] = 1; });
  sample_with_config(sample, dir / "token-id-16M", [](auto&) {});
  {
    auto tok = nlohmann::ordered_json::parse(read_text(sample / "tokenizer.json"));
    tok["model"]["vocab"]["zzz"] = 16777215;
    write_file(dir / "token-id-16M/tokenizer.json", tok.dump());
  }
  // JSON values of the wrong type where a string or bool is read: one line naming the file, never
  // nlohmann's "[json.exception.type_error.302]".
  sample_with_config(sample, dir / "json-type-tokenizer", [](auto&) {});
  {
    auto tok = nlohmann::ordered_json::parse(read_text(sample / "tokenizer.json"));
    tok["model"]["byte_fallback"] = "yes";
    write_file(dir / "json-type-tokenizer/tokenizer.json", tok.dump());
  }
  sample_with_config(sample, dir / "json-type-config", [](auto& c) { c["rope_scaling"] = {{"rope_type", 1}}; });
  // A tokenizer.model with three pieces, for a byte-level BPE directory (stale leftovers are common).
  {
    std::string model;
    for (const auto& [piece, type] : {std::pair{"<unk>"s, 2}, std::pair{"<s>"s, 3}, std::pair{"</s>"s, 3}}) {
      std::string p = "\x0a"s + static_cast<char>(piece.size()) + piece + "\x15"s + std::string(4, '\0') + "\x18"s + static_cast<char>(type);
      model += "\x0a"s + static_cast<char>(p.size()) + p;
    }
    write_file(dir / "tiny-spm.model", model);
  }
  // The sample as a legacy pytorch_model.bin directory (what older hub repos hold).
  {
    const SafetensorsFile st = read_safetensors((sample / "model.safetensors").string());
    std::vector<test::TorchTensorSpec> specs;
    for (const auto& t : st.tensors) {
      const auto bytes = st.data(t);
      specs.push_back({t.name, t.dtype, t.shape, std::vector<std::byte>(bytes.begin(), bytes.end())});
    }
    write_file(dir / "sample-bin/pytorch_model.bin", test::torch_save_bytes(specs));
    for (const char* f : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"}) {
      fs::copy_file(sample / f, dir / "sample-bin" / f, fs::copy_options::overwrite_existing);
    }
  }
  // The sample with three values of blk.1's q_proj past f16's range (bf16 holds them): convert --outtype
  // f16 must refuse it naming the tensor and the count.
  {
    sample_with_config(sample, dir / "f16-overflow", [](auto&) {});
    const SafetensorsFile st = read_safetensors((sample / "model.safetensors").string());
    std::vector<TensorToWrite> tensors;
    for (const auto& t : st.tensors) {
      auto bytes = std::make_shared<std::vector<std::byte>>(st.data(t).begin(), st.data(t).end());
      if (t.name == "model.layers.1.self_attn.q_proj.weight") {
        for (size_t at : {size_t{0}, size_t{2}, size_t{100}}) set_u16(*bytes, at, f32_to_bf16(at == 2 ? -1e6f : 7e4f));
      }
      tensors.push_back({t.name, t.dtype, t.shape, [bytes](ByteSink& sink) { sink.write(*bytes); }});
    }
    write_safetensors((dir / "f16-overflow" / "model.safetensors").string(), std::move(tensors), {{"format", "pt"}});
  }
  big_llama(sample, dir / "big-llama");
  return 0;
}
