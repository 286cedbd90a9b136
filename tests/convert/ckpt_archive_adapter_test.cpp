// Adapters inside .ckpt archives: adding one leaves every tensor byte where it was and removing it again
// gives back the original file; the binding lists exactly the base tensors the adapter's modules name
// (derived here from the adapter's target modules, not from the planner) with a digest recomputed
// here; merge and run from inside the archive equal merge and run of the PEFT directory; an adapter
// bound to another base is refused unless forced; extract gives back the files added; damaged adapter
// descriptions are refused with the section named.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "convert/ckpt_archive_convert.h"
#include "convert/convert.h"
#include "convert/merge.h"
#include "formats/ckpt_archive.h"
#include "formats/ckpt_archive_adapters.h"
#include "runtime/runtime.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

const std::string kSample = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";
const std::string kLora = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama-lora";

void to_archive(const std::string& in, const std::string& out) {
  ConvertOptions o;
  o.input = in;
  o.output = out;
  o.to = "ckpt";
  convert(o);
}

ArchiveAdapterReport add(const std::string& archive, const std::string& adapter, const std::string& name, bool force = false) {
  ArchiveAdapterOptions o;
  o.archive = archive;
  o.adapter = adapter;
  o.name = name;
  o.force = force;
  return add_archive_adapter(o);
}

// SHA-256 over name, 0, digest for each (name, digest) in name order: the binding digest, by hand.
Sha256Digest binding_digest_by_hand(const CkptArchive& a, const std::set<std::string>& names) {
  std::string message;
  for (const auto& n : names) {
    message += n;
    message.push_back('\0');
    const auto& d = a.find_tensor(n)->sha256;
    message.append(reinterpret_cast<const char*>(d.data()), d.size());
  }
  return sha256(std::as_bytes(std::span(message.data(), message.size())));
}

TEST(CkptArchiveAdapter, AddKeepsTensorBytesAndRemoveRestoresTheFile) {
  test::TempDir dir;
  to_archive(kSample, dir.file("base.ckpt"));
  const auto original = test::read_file_bytes(dir.file("base.ckpt"));
  const CkptArchive before = read_ckpt_archive(dir.file("base.ckpt"));
  uint64_t tensor_end = 0;
  for (const auto& t : before.tensors) tensor_end = std::max(tensor_end, t.offset + t.length);

  const auto r = add(dir.file("base.ckpt"), kLora, "demo");
  const auto with = test::read_file_bytes(dir.file("base.ckpt"));
  ASSERT_GT(with.size(), original.size());
  // Everything before the index (lead page, tensors, the original sections) is untouched.
  EXPECT_TRUE(std::equal(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(before.index_offset), with.begin()));
  const CkptArchive after = read_ckpt_archive(dir.file("base.ckpt"));
  ASSERT_EQ(after.tensors.size(), before.tensors.size());
  for (size_t i = 0; i < before.tensors.size(); ++i) {
    EXPECT_EQ(after.tensors[i].offset, before.tensors[i].offset);
    EXPECT_EQ(after.tensors[i].sha256, before.tensors[i].sha256);
  }
  EXPECT_TRUE(verify_ckpt_archive(after, 2).ok());
  EXPECT_GT(after.index_offset, tensor_end);

  // The binding: q/k/v/o of both layers, as this HF-made archive names them.
  std::set<std::string> expected;
  for (int layer = 0; layer < 2; ++layer) {
    for (const char* m : {"q_proj", "k_proj", "v_proj", "o_proj"}) expected.insert("model.layers." + std::to_string(layer) + ".self_attn." + m + ".weight");
  }
  const auto adapters = ckpt_archive_adapters(after);
  ASSERT_EQ(adapters.size(), 1u);
  const CkptAdapter& x = adapters.front();
  EXPECT_EQ(x.name, "demo");
  EXPECT_EQ(x.format, "peft");
  EXPECT_EQ(x.r, 8u);
  std::set<std::string> bound;
  for (const auto& [name, d] : x.base.tensors) bound.insert(name);
  EXPECT_EQ(bound, expected);
  EXPECT_EQ(x.base.digest(), binding_digest_by_hand(after, expected));
  EXPECT_EQ(r.digest, to_hex(binding_digest_by_hand(after, expected)));

  // The files come back as they went in.
  extract_archive_adapter(dir.file("base.ckpt"), "demo", dir.file("out"), false);
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors"}) {
    EXPECT_EQ(test::read_file_bytes(dir.file("out") + "/" + f), test::read_file_bytes(kLora + "/" + f)) << f;
  }
  // A second adapter under the same name is refused; --replace is the way.
  test::expect_error(ErrorCode::DuplicateName, [&] { add(dir.file("base.ckpt"), kLora, "demo"); });
  test::expect_error(ErrorCode::InvalidArgument, [&] { add(dir.file("base.ckpt"), kLora, "bad/name"); });

  remove_archive_adapter(dir.file("base.ckpt"), "demo", "");
  EXPECT_EQ(test::read_file_bytes(dir.file("base.ckpt")), original);
  test::expect_error(ErrorCode::NotFound, [&] { remove_archive_adapter(dir.file("base.ckpt"), "demo", ""); });
}

TEST(CkptArchiveAdapter, MergeAndRunFromInsideTheArchiveEqualThePeftDirectory) {
  test::TempDir dir;
  ConvertOptions g;
  g.input = kSample;
  g.output = dir.file("m.gguf");
  g.outtype = "f32";
  convert(g);
  to_archive(kSample, dir.file("hf.ckpt"));
  to_archive(dir.file("m.gguf"), dir.file("g.ckpt"));
  for (const std::string base : {dir.file("hf.ckpt"), dir.file("g.ckpt")}) {
    SCOPED_TRACE(base);
    add(base, kLora, "demo");
    const std::string plain_base = base == dir.file("hf.ckpt") ? kSample : dir.file("m.gguf");
    const bool gguf = base == dir.file("g.ckpt");
    MergeOptions m;
    m.base = base;
    m.adapters = {{"demo", 1.0}};
    m.output = gguf ? dir.file("from-archive.gguf") : dir.file("from-archive");
    merge_lora(m);
    m.base = plain_base;
    m.adapters = {{kLora, 1.0}};
    m.output = gguf ? dir.file("from-dir.gguf") : dir.file("from-dir");
    merge_lora(m);
    if (gguf) {
      EXPECT_EQ(test::read_file_bytes(dir.file("from-archive.gguf")), test::read_file_bytes(dir.file("from-dir.gguf")));
    } else {
      EXPECT_EQ(test::read_file_bytes(dir.file("from-archive/model.safetensors")), test::read_file_bytes(dir.file("from-dir/model.safetensors")));
    }
    runtime::Model a = runtime::load_model(base), b = runtime::load_model(plain_base);
    runtime::attach_lora(a, {{"demo", 1.0}});
    runtime::attach_lora(b, {{kLora, 1.0}});
    runtime::Forward fa(a, 32, 1, runtime::KvType::F32), fb(b, 32, 1, runtime::KvType::F32);
    const std::vector<int32_t> tokens = {1, 300, 20, 7, 411};
    const auto r = runtime::check_agreement(fa, fb, tokens);
    EXPECT_EQ(r.max_abs_diff, 0.0);
    // The adapter also applies to the plain base it was bound through (its tensors hash the same).
    runtime::Model c = runtime::load_model(plain_base);
    runtime::attach_lora(c, {{base + ":demo", 1.0}});
  }
}

TEST(CkptArchiveAdapter, AnAdapterBoundToAnotherBaseIsRefused) {
  test::TempDir dir;
  to_archive(kSample, dir.file("a.ckpt"));
  add(dir.file("a.ckpt"), kLora, "demo");
  // Another base of the same shapes: the sample quantized to Q8_0 and back to an f32 GGUF archive.
  ConvertOptions g;
  g.input = kSample;
  g.output = dir.file("other.gguf");
  g.outtype = "q8_0";
  convert(g);
  to_archive(dir.file("other.gguf"), dir.file("b.ckpt"));
  const Error e = test::expect_error(ErrorCode::BadChecksum, [&] { add(dir.file("b.ckpt"), dir.file("a.ckpt") + ":demo", "demo"); });
  EXPECT_NE(std::string(e.what()).find("adapter built for a different base"), std::string::npos) << e.what();
  // Forced, it is bound to b's tensors; a's adapter used on b (or on the GGUF b came from) is refused.
  const auto r = add(dir.file("b.ckpt"), dir.file("a.ckpt") + ":demo", "demo", /*force=*/true);
  EXPECT_TRUE(r.rebound);
  runtime::Model m = runtime::load_model(dir.file("other.gguf"));
  const Error e2 = test::expect_error(ErrorCode::BadChecksum, [&] { runtime::attach_lora(m, {{dir.file("a.ckpt") + ":demo", 1.0}}); });
  EXPECT_NE(std::string(e2.what()).find("adapter built for a different base"), std::string::npos) << e2.what();
  // An archive with one adapter names it by itself; the base archive's adapter by its name.
  runtime::Model n = runtime::load_model(dir.file("b.ckpt"));
  runtime::attach_lora(n, {{"demo", 1.0}});
  test::expect_error(ErrorCode::NotFound, [&] { runtime::attach_lora(n, {{"nosuch", 1.0}}); });
}

// Descriptions that lie are refused on use, naming the section.
TEST(CkptArchiveAdapter, DamagedDescriptionsAreRefused) {
  test::TempDir dir;
  const std::vector<std::byte> data(64, std::byte{1});
  auto bytes = [](const std::string& s) {
    const auto b = std::as_bytes(std::span(s.data(), s.size()));
    return std::vector<std::byte>(b.begin(), b.end());
  };
  const std::string zero_digest(64, '0');
  struct Case {
    const char* name;
    std::string json;
    bool with_file;
    ErrorCode code;
  };
  const nlohmann::json good = {{"name", "x"}, {"format", "peft"}, {"files", {"adapter_config.json"}}, {"base", {{"tensors", nlohmann::json::array()}, {"digest", to_hex(CkptAdapterBinding{}.digest())}}}};
  auto with = [&](const char* key, nlohmann::json v) {
    auto j = good;
    j[key] = std::move(v);
    return j.dump();
  };
  const std::vector<Case> cases = {
      {"not_json", "{", true, ErrorCode::BadJson},
      {"name_mismatch", with("name", "y"), true, ErrorCode::BadJson},
      {"bad_format", with("format", "onnx"), true, ErrorCode::BadJson},
      {"missing_file", good.dump(), false, ErrorCode::NotFound},
      {"path_in_files", with("files", {"../x"}), true, ErrorCode::BadJson},
      {"digest_lies", with("base", {{"tensors", {{{"name", "t"}, {"sha256", zero_digest}}}}, {"digest", zero_digest}}), true, ErrorCode::BadChecksum},
      {"unsorted", with("base", {{"tensors", {{{"name", "u"}, {"sha256", zero_digest}}, {{"name", "t"}, {"sha256", zero_digest}}}}, {"digest", zero_digest}}), true,
       ErrorCode::BadJson},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<CkptInputSection> sections = {{"adapter/x", "adapter", bytes(c.json), true}};
    if (c.with_file) sections.push_back({"adapter/x/adapter_config.json", "adapter-file", bytes("{}"), true});
    const std::string path = dir.file(std::string(c.name) + ".ckpt");
    write_ckpt_archive(path, "hf-checkpoint", {{"t", DType::U8, {64}, data}}, sections, 1);
    const CkptArchive a = read_ckpt_archive(path);  // the archive itself is sound
    const Error e = test::expect_error(c.code, [&] { ckpt_archive_adapters(a); });
    EXPECT_NE(e.field().find("adapter/x"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ckpt
