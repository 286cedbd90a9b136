// llama.cpp importance matrices: both layouts built byte by byte here, values normalised as
// llama-quantize's load_imatrix does (worked out by hand), and hostile files refused with file, field
// and offset. libllama reads the same files in the interop tests (quantize-*-imatrix*).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "formats/byte_sink.h"
#include "formats/error.h"
#include "formats/gguf.h"
#include "formats/imatrix_file.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

class LegacyBytes {
 public:
  LegacyBytes& i32(int32_t v) { return raw(&v, 4); }
  LegacyBytes& f32(float v) { return raw(&v, 4); }
  LegacyBytes& text(const std::string& s) { return raw(s.data(), s.size()); }
  LegacyBytes& raw(const void* p, size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    bytes.insert(bytes.end(), b, b + n);
    return *this;
  }
  std::vector<std::byte> bytes;
};

LegacyBytes two_entries() {
  LegacyBytes b;
  b.i32(2);
  b.i32(5).text("a.w.x").i32(4).i32(2).f32(8.0f).f32(2.0f);  // ncall 4: values / 4
  b.i32(3).text("b.w").i32(0).i32(1).f32(3.0f);              // ncall 0: kept as stored
  b.i32(11).i32(4).text("wiki");
  return b;
}

TEST(Imatrix, LegacyValuesAreDividedByTheirCalls) {
  const auto m = parse_imatrix("im.dat", two_entries().bytes);
  EXPECT_TRUE(m.legacy);
  EXPECT_EQ(m.entries.at("a.w.x"), (std::vector<float>{2.0f, 0.5f}));
  EXPECT_EQ(m.entries.at("b.w"), (std::vector<float>{3.0f}));
  EXPECT_EQ(m.chunk_count, 11u);
  EXPECT_EQ(m.datasets, (std::vector<std::string>{"wiki"}));
}

std::string write_gguf_imatrix(const test::TempDir& dir, bool with_keys, std::vector<float> sums, std::vector<float> counts,
                               DType counts_type = DType::F32) {
  const std::string path = (dir.path() / "im.gguf").string();
  std::vector<GgufKv> kvs;
  if (with_keys) {
    kvs = {{"imatrix.datasets", GgufValue::string_array({"calib.txt"}), 0},
           {"imatrix.chunk_count", {uint32_t{3}}, 0},
           {"imatrix.chunk_size", {uint32_t{512}}, 0}};
  }
  const uint64_t n_counts = counts_type == DType::F32 ? counts.size() : counts.size() * 2;
  std::vector<GgufTensorToWrite> tensors = {
      {"blk.0.ffn_down.weight.in_sum2", {sums.size(), 1}, DType::F32, [sums](ByteSink& s) { s.write(std::as_bytes(std::span(sums))); }},
      {"blk.0.ffn_down.weight.counts", {n_counts, 1}, counts_type, [counts](ByteSink& s) { s.write(std::as_bytes(std::span(counts))); }}};
  write_gguf(path, kvs, tensors);
  return path;
}

TEST(Imatrix, GgufSumsAreDividedByEachExpertsRoundedCount) {
  test::TempDir dir;
  // Two experts of 2 columns: counts 4.4 (rounds to 4) and 0 (no tokens: importance 1).
  const auto m = read_imatrix(write_gguf_imatrix(dir, true, {8.0f, 2.0f, 5.0f, 7.0f}, {4.4f, 0.0f}));
  EXPECT_FALSE(m.legacy);
  EXPECT_EQ(m.entries.at("blk.0.ffn_down.weight"), (std::vector<float>{2.0f, 0.5f, 1.0f, 1.0f}));
  EXPECT_EQ(m.chunk_count, 3u);
  EXPECT_EQ(m.datasets, (std::vector<std::string>{"calib.txt"}));
}

TEST(Imatrix, HostileGgufFilesAreRefused) {
  test::TempDir dir;
  auto fails = [&](const std::string& path, const std::string& what) {
    try {
      read_imatrix(path);
      ADD_FAILURE() << "accepted: " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  fails(write_gguf_imatrix(dir, false, {1.0f}, {1.0f}), "imatrix.datasets");
  fails(write_gguf_imatrix(dir, true, {1.0f, 2.0f, 3.0f}, {1.0f, 1.0f}), "do not split");
  fails(write_gguf_imatrix(dir, true, {std::numeric_limits<float>::quiet_NaN()}, {1.0f}), "not finite");
  fails(write_gguf_imatrix(dir, true, {1.0f, 1.0f}, {1.0f}, DType::F16), "must be F32");
}

TEST(Imatrix, HostileLegacyFilesAreRefusedWithTheirOffset) {
  const auto good = two_entries().bytes;
  // Every truncation inside the entries fails cleanly (the trailing chunk count and name are optional).
  for (size_t n = 0; n < 4 + 4 + 5 + 4 + 4 + 8 + 4 + 3 + 4 + 4 + 4; ++n) {
    EXPECT_THROW(parse_imatrix("im.dat", std::span(good).first(n)), Error) << n;
  }
  auto error_of = [](const LegacyBytes& b) {
    try {
      parse_imatrix("im.dat", b.bytes);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(error_of(LegacyBytes().i32(1 << 30).i32(0)).find("n_entries"), std::string::npos);
  EXPECT_NE(error_of(LegacyBytes().i32(1).i32(-5).i32(0).i32(0)).find("offset 4"), std::string::npos);
  LegacyBytes huge;
  huge.i32(1).i32(1).text("w").i32(1).i32(1 << 30).f32(1.0f);
  EXPECT_NE(error_of(huge).find("only 1 fit"), std::string::npos);
  LegacyBytes inf;
  inf.i32(1).i32(1).text("w").i32(1).i32(2).f32(1.0f).f32(std::numeric_limits<float>::infinity());
  EXPECT_NE(error_of(inf).find("offset 21"), std::string::npos) << error_of(inf);  // the second value
  LegacyBytes twice;
  twice.i32(2).i32(1).text("w").i32(1).i32(1).f32(1.0f).i32(1).text("w").i32(1).i32(1).f32(1.0f);
  EXPECT_NE(error_of(twice).find("appears twice"), std::string::npos);
}

}  // namespace
}  // namespace ckpt
