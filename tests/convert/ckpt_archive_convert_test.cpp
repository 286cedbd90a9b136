// Models into .ckpt archives and back with `convert`: HF -> .ckpt -> HF gives the same safetensors
// file, GGUF -> .ckpt -> GGUF the same tensor bytes and metadata, bitsandbytes NF4-dq -> .ckpt -> HF the
// same 4-bit codes and quantization state; the archive records where it came from and is the same
// bytes every time; archive -> archive is the identity.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "convert/ckpt_archive_convert.h"
#include "convert/convert.h"
#include "formats/ckpt_archive.h"
#include "formats/gguf.h"
#include "convert/merge.h"
#include "formats/model_source.h"
#include "quantize/quantize_bnb.h"
#include "quantize/quantize_gguf.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

const std::string kSample = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";

ConvertReport run(const std::string& in, const std::string& out, const std::string& to = "gguf", const std::string& outtype = "") {
  ConvertOptions o;
  o.input = in;
  o.output = out;
  o.to = to;
  o.outtype = outtype;
  return convert(o);
}

TEST(CkptArchiveConvert, HfToArchiveToHfGivesTheSameFiles) {
  test::TempDir dir;
  run(kSample, dir.file("s.ckpt"));
  run(dir.file("s.ckpt"), dir.file("back"), "hf");
  for (const char* f : {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
    EXPECT_EQ(test::read_file_bytes(dir.file("back") + "/" + f), test::read_file_bytes(kSample + "/" + f)) << f;
  }
  const CkptArchive a = read_ckpt_archive(dir.file("s.ckpt"));
  EXPECT_EQ(a.origin, "hf-checkpoint");
  const auto prov = nlohmann::json::parse(a.section_text("provenance"));
  EXPECT_EQ(prov["tool"], "ckpt");
  bool saw_weights = false;
  for (const auto& f : prov["source_files"]) {
    if (f["name"] == "model.safetensors") {
      saw_weights = true;
      EXPECT_EQ(f["sha256"], to_hex(sha256(test::read_file_bytes(kSample + "/model.safetensors"))));
    }
  }
  EXPECT_TRUE(saw_weights);
  // Same input, same bytes; an archive re-archived is itself.
  run(kSample, dir.file("again.ckpt"));
  EXPECT_EQ(test::read_file_bytes(dir.file("s.ckpt")), test::read_file_bytes(dir.file("again.ckpt")));
  run(dir.file("s.ckpt"), dir.file("copy.ckpt"));
  EXPECT_EQ(test::read_file_bytes(dir.file("s.ckpt")), test::read_file_bytes(dir.file("copy.ckpt")));
}

TEST(CkptArchiveConvert, GgufToArchiveToGgufKeepsBlockTypesAndMetadata) {
  test::TempDir dir;
  run(kSample, dir.file("q.gguf"), "gguf", "q8_0");
  run(dir.file("q.gguf"), dir.file("q.ckpt"));
  run(dir.file("q.ckpt"), dir.file("back.gguf"));
  // The whole file comes back: KVs, tensor order (the archive keeps the source's), alignment, data.
  EXPECT_EQ(test::read_file_bytes(dir.file("back.gguf")), test::read_file_bytes(dir.file("q.gguf")));
  const GgufFile a = read_gguf(dir.file("q.gguf")), b = read_gguf(dir.file("back.gguf"));
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& t : a.tensors) {
    const auto* u = b.find_tensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(u->dtype, t.dtype) << t.name;
    EXPECT_EQ(u->ne, t.ne) << t.name;
    const auto x = a.data(t), y = b.data(*u);
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin(), y.end())) << t.name;
  }
  ASSERT_EQ(a.kvs.size(), b.kvs.size());
  for (size_t i = 0; i < a.kvs.size(); ++i) {
    EXPECT_EQ(a.kvs[i].key, b.kvs[i].key);
    EXPECT_TRUE(a.kvs[i].value == b.kvs[i].value) << a.kvs[i].key;
  }
  // --to hf from the archive is what --to hf from the GGUF gives (names mapped back, Q8_0 dequantized).
  run(dir.file("q.ckpt"), dir.file("via-hf"), "hf");
  run(dir.file("q.gguf"), dir.file("direct-hf"), "hf");
  for (const char* f : {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_EQ(test::read_file_bytes(dir.file("via-hf") + "/" + f), test::read_file_bytes(dir.file("direct-hf") + "/" + f)) << f;
  }
}

TEST(CkptArchiveConvert, BitsandbytesNf4DqSurvivesTheRoundTrip) {
  test::TempDir dir;
  QuantizeOptions q;
  q.input = kSample;
  q.output = dir.file("nf4");
  quantize_hf_to_bnb(q, *parse_bnb_type("nf4-dq"));
  run(dir.file("nf4"), dir.file("nf4.ckpt"));
  run(dir.file("nf4.ckpt"), dir.file("back"), "hf");
  EXPECT_EQ(test::read_file_bytes(dir.file("back") + "/model.safetensors"), test::read_file_bytes(dir.file("nf4") + "/model.safetensors"));
  EXPECT_EQ(test::read_file_bytes(dir.file("back") + "/config.json"), test::read_file_bytes(dir.file("nf4") + "/config.json"));
  const CkptArchive a = read_ckpt_archive(dir.file("nf4.ckpt"));
  EXPECT_NE(a.find_tensor("model.layers.0.self_attn.q_proj.weight.nested_absmax"), nullptr);  // the double-quant state, stored as is
  EXPECT_TRUE(verify_ckpt_archive(a, 2).ok());
}

// An archive is a model source like any other: an HF-made archive converts to the GGUF its directory
// gives (one step, any --outtype), a GGUF-made one quantizes to the bytes its GGUF quantizes to, and
// bitsandbytes quantization of an HF-made archive writes the directory the original gives. The side
// files unpacked for the HF path are gone once the source is.
TEST(CkptArchiveConvert, ArchivesAreModelSourcesForEveryCommand) {
  test::TempDir dir;
  run(kSample, dir.file("s.ckpt"));
  for (const std::string outtype : {"", "q8_0", "f16"}) {
    SCOPED_TRACE(outtype);
    std::filesystem::remove(dir.file("direct.gguf"));
    std::filesystem::remove(dir.file("via.gguf"));
    run(kSample, dir.file("direct.gguf"), "gguf", outtype);
    run(dir.file("s.ckpt"), dir.file("via.gguf"), "gguf", outtype);
    EXPECT_EQ(test::read_file_bytes(dir.file("via.gguf")), test::read_file_bytes(dir.file("direct.gguf")));  // general.name included
  }
  run(kSample, dir.file("f32.gguf"), "gguf", "f32");
  run(dir.file("f32.gguf"), dir.file("g.ckpt"));
  QuantizeOptions q;
  q.type = "Q4_K_M";
  q.input = dir.file("f32.gguf");
  q.output = dir.file("q-direct.gguf");
  quantize_gguf_file(q);
  q.input = dir.file("g.ckpt");
  q.output = dir.file("q-via.gguf");
  quantize_gguf_file(q);
  EXPECT_EQ(test::read_file_bytes(dir.file("q-via.gguf")), test::read_file_bytes(dir.file("q-direct.gguf")));
  q.input = dir.file("s.ckpt");
  q.output = dir.file("refused.gguf");
  test::expect_error(ErrorCode::Unsupported, [&] { quantize_gguf_file(q); });  // says: convert --outtype
  QuantizeOptions b;
  b.input = kSample;
  b.output = dir.file("nf4-direct");
  quantize_hf_to_bnb(b, *parse_bnb_type("nf4-dq"));
  b.input = dir.file("s.ckpt");
  b.output = dir.file("nf4-via");
  quantize_hf_to_bnb(b, *parse_bnb_type("nf4-dq"));
  for (const char* f : {"model.safetensors", "config.json", "tokenizer.json"}) {
    EXPECT_EQ(test::read_file_bytes(dir.file("nf4-via") + "/" + f), test::read_file_bytes(dir.file("nf4-direct") + "/" + f)) << f;
  }
  std::string unpacked;
  {
    const ModelSource src = open_model_source(dir.file("s.ckpt"));
    EXPECT_EQ(src.kind, SourceKind::HfCheckpoint);
    ASSERT_TRUE(src.config_path);
    unpacked = src.dir;
    EXPECT_TRUE(std::filesystem::exists(*src.config_path));
    EXPECT_EQ(test::read_file_bytes(*src.config_path), test::read_file_bytes(kSample + "/config.json"));
    EXPECT_EQ(src.all_tensors.size(), read_ckpt_archive(dir.file("s.ckpt")).tensors.size());
  }
  EXPECT_FALSE(std::filesystem::exists(unpacked)) << unpacked;
}

// Every writer can write an archive (the rewrite pipeline's .ckpt target): quantize, merge and convert
// --outtype into a .ckpt give back, converted out again, exactly the file or directory they write
// directly; tensors are hashed as they stream (verify agrees) and provenance names the command.
TEST(CkptArchiveConvert, EveryWriterWritesArchives) {
  test::TempDir dir;
  run(kSample, dir.file("f32.gguf"), "gguf", "f32");
  QuantizeOptions q;
  q.type = "Q4_K_M";
  q.input = dir.file("f32.gguf");
  q.output = dir.file("q.gguf");
  quantize_gguf_file(q);
  q.output = dir.file("q.ckpt");
  quantize_gguf_file(q);
  run(dir.file("q.ckpt"), dir.file("q-back.gguf"));
  EXPECT_EQ(test::read_file_bytes(dir.file("q-back.gguf")), test::read_file_bytes(dir.file("q.gguf")));
  const CkptArchive qa = read_ckpt_archive(dir.file("q.ckpt"));
  EXPECT_TRUE(verify_ckpt_archive(qa, 2).ok());
  const auto prov = nlohmann::json::parse(qa.section_text("provenance"));
  EXPECT_EQ(prov["options"]["command"], "quantize");
  EXPECT_EQ(prov["options"]["type"], "Q4_K_M");
  EXPECT_EQ(prov["source_files"][0]["sha256"], to_hex(sha256(test::read_file_bytes(dir.file("f32.gguf")))));

  run(kSample, dir.file("c8.ckpt"), "gguf", "q8_0");
  run(kSample, dir.file("c8.gguf"), "gguf", "q8_0");
  run(dir.file("c8.ckpt"), dir.file("c8-back.gguf"));
  EXPECT_EQ(test::read_file_bytes(dir.file("c8-back.gguf")), test::read_file_bytes(dir.file("c8.gguf")));

  const std::string lora = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama-lora";
  MergeOptions m;
  m.base = dir.file("f32.gguf");
  m.adapters = {{lora, 1.0}};
  m.output = dir.file("merged.gguf");
  merge_lora(m);
  m.output = dir.file("merged.ckpt");
  merge_lora(m);
  run(dir.file("merged.ckpt"), dir.file("merged-back.gguf"));
  EXPECT_EQ(test::read_file_bytes(dir.file("merged-back.gguf")), test::read_file_bytes(dir.file("merged.gguf")));
  m.base = kSample;
  m.output = dir.file("merged-hf");
  merge_lora(m);
  m.output = dir.file("merged-hf.ckpt");
  merge_lora(m);
  run(dir.file("merged-hf.ckpt"), dir.file("merged-hf-back"), "hf");
  for (const char* f : {"model.safetensors", "config.json", "tokenizer.json"}) {
    EXPECT_EQ(test::read_file_bytes(dir.file("merged-hf-back") + "/" + f), test::read_file_bytes(dir.file("merged-hf") + "/" + f)) << f;
  }
  QuantizeOptions b;
  b.input = kSample;
  b.output = dir.file("nf4");
  quantize_hf_to_bnb(b, *parse_bnb_type("nf4-dq"));
  b.output = dir.file("nf4.ckpt");
  quantize_hf_to_bnb(b, *parse_bnb_type("nf4-dq"));
  run(dir.file("nf4.ckpt"), dir.file("nf4-back"), "hf");
  EXPECT_EQ(test::read_file_bytes(dir.file("nf4-back/model.safetensors")), test::read_file_bytes(dir.file("nf4/model.safetensors")));
  // An archive is one file: split limits are refused before anything is written.
  q.output = dir.file("split.ckpt");
  q.split.max_tensors = 4;
  test::expect_error(ErrorCode::InvalidArgument, [&] { quantize_gguf_file(q); });
  EXPECT_FALSE(std::filesystem::exists(dir.file("split.ckpt")));
  // --outtype converts HF checkpoints only.
  test::expect_error(ErrorCode::InvalidArgument, [&] { run(dir.file("f32.gguf"), dir.file("x.ckpt"), "gguf", "q8_0"); });
}

}  // namespace
}  // namespace ckpt
