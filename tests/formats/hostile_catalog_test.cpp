// The corrupt-file catalog: crafted malformed safetensors and GGUF files, each expected to fail with a
// specific ErrorCode (never a crash, hang or huge allocation), plus truncation at every byte.
#include <gtest/gtest.h>

#include "formats/byte_sink.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

using test::Bytes;

struct HostileCase {
  const char* name;
  std::vector<std::byte> bytes;
  ErrorCode expected;
};

std::vector<std::byte> st(const std::string& header, size_t data_bytes = 0) {
  return test::safetensors_bytes(header, std::vector<std::byte>(data_bytes));
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

const char* kLfs =
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 12345\n";

std::vector<std::byte> lfs_bytes() {
  const std::string text = kLfs;
  const auto b = test::as_bytes(text);
  return {b.begin(), b.end()};
}

std::vector<HostileCase> safetensors_cases() {
  const std::string t = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  std::string overlap = "{";
  for (int i = 0; i < 10; ++i) overlap += (i ? "," : "") + std::string("\"t") + std::to_string(i) + R"(":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]})";
  overlap += "}";
  Bytes huge_n;
  huge_n.raw(std::string_view("\x3c\x00\x00\x00\x00\xff\xff\xff", 8));
  Bytes short_n;
  short_n.le<uint64_t>(60);
  return {
      {"st empty file", {}, ErrorCode::Truncated},
      {"st 7 bytes", std::vector<std::byte>(7), ErrorCode::Truncated},
      {"st header length huge", huge_n.bytes(), ErrorCode::TooLarge},
      {"st header length 100000001", test::safetensors_bytes("{}", {}, 100'000'001), ErrorCode::TooLarge},
      {"st header length past EOF", short_n.bytes(), ErrorCode::Truncated},
      {"st header not UTF-8", st("\xff"), ErrorCode::BadUtf8},
      {"st header overlong UTF-8", st("{\"\xc0\xaf\":1}"), ErrorCode::BadUtf8},
      {"st header surrogate UTF-8", st("{\"\xed\xa0\x80\":1}"), ErrorCode::BadUtf8},
      {"st header not JSON", st("{"), ErrorCode::BadJson},
      {"st header is an array", st("[]"), ErrorCode::BadJson},
      {"st number overflows double (fuzz finding)", st(R"({"__metadata__":{"a":"b"},"x":55555e55555555555555})"), ErrorCode::BadJson},
      {"st header deeply nested", st("{\"__metadata__\":" + nested(100) + "}"), ErrorCode::TooDeep},
      {"st duplicate tensor", st("{" + t + "," + t + "}", 8), ErrorCode::DuplicateName},
      {"st metadata not string", st(R"({"__metadata__":{"a":1}})"), ErrorCode::BadJson},
      {"st metadata nested", st(R"({"__metadata__":{"a":{"b":"c"}}})"), ErrorCode::BadJson},
      {"st metadata not object", st(R"({"__metadata__":"x"})"), ErrorCode::BadJson},
      {"st unknown dtype", st(R"({"t":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}})", 8), ErrorCode::BadDType},
      {"st dtype not string", st(R"({"t":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8), ErrorCode::BadJson},
      {"st negative dim", st(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), ErrorCode::BadJson},
      {"st fractional dim", st(R"({"t":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8), ErrorCode::BadJson},
      {"st shape missing", st(R"({"t":{"dtype":"F32","data_offsets":[0,8]}})", 8), ErrorCode::BadJson},
      {"st offsets three", st(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", 8), ErrorCode::BadJson},
      {"st offset beyond u64", st(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616]}})", 8), ErrorCode::BadJson},
      {"st entry not object", st(R"({"t":[1,2]})"), ErrorCode::BadJson},
      {"st empty name", st(R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8), ErrorCode::EmptyName},
      {"st shape overflow", st(R"({"t":{"dtype":"I32","shape":[2,18446744073709551614],"data_offsets":[0,16]}})", 16), ErrorCode::Overflow},
      {"st bytes overflow", st(R"({"t":{"dtype":"I32","shape":[2,9223372036854775807],"data_offsets":[0,16]}})", 16), ErrorCode::Overflow},
      {"st size mismatch", st(R"({"t":{"dtype":"I32","shape":[2,2],"data_offsets":[0,4]}})", 4), ErrorCode::SizeMismatch},
      {"st json attack overlap", st(overlap, 16), ErrorCode::BadOffset},
      {"st gap before first", st(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12), ErrorCode::BadOffset},
      {"st end before begin", st(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8), ErrorCode::BadOffset},
      {"st trailing polyglot bytes", test::safetensors_bytes("{" + t + "}", test::as_bytes("12345678extra_bogus_data_for_polyglot_file")), ErrorCode::IncompleteBuffer},
      {"st data 2 bytes short", st("{" + t + "}", 6), ErrorCode::IncompleteBuffer},
      {"st f4 odd elements", st(R"({"t":{"dtype":"F4","shape":[1,3],"data_offsets":[0,2]}})", 2), ErrorCode::BadShape},
      {"st lfs pointer", lfs_bytes(), ErrorCode::LfsPointer},
  };
}

// GGUF builders: a header, then whatever the case needs.
Bytes gguf_header(int64_t n_tensors, int64_t n_kv, uint32_t version = 3) {
  Bytes b;
  b.raw("GGUF").le<uint32_t>(version).le<int64_t>(n_tensors).le<int64_t>(n_kv);
  return b;
}

Bytes& tensor_info(Bytes& b, const std::string& name, std::vector<int64_t> ne, int32_t type, uint64_t offset) {
  b.gguf_str(name).le<uint32_t>(static_cast<uint32_t>(ne.size()));
  for (auto d : ne) b.le<int64_t>(d);
  return b.le<int32_t>(type).le<uint64_t>(offset);
}

std::vector<std::byte> one_tensor(const std::string& name, std::vector<int64_t> ne, int32_t type, uint64_t offset,
                                  size_t data_bytes) {
  Bytes b = gguf_header(1, 0);
  tensor_info(b, name, std::move(ne), type, offset).pad_to(32).zeros(data_bytes);
  return b.bytes();
}

std::vector<std::byte> one_kv(const std::function<void(Bytes&)>& write_kv) {
  Bytes b = gguf_header(0, 1);
  write_kv(b);
  return b.bytes();
}

std::vector<HostileCase> gguf_cases() {
  auto bytes = [](Bytes b) { return b.bytes(); };
  Bytes two_tensors_gap = gguf_header(2, 0);
  tensor_info(two_tensors_gap, "a", {8}, 0, 0);
  tensor_info(two_tensors_gap, "b", {8}, 0, 64).pad_to(32).zeros(128);
  Bytes dup_tensor = gguf_header(2, 0);
  tensor_info(dup_tensor, "a", {8}, 0, 0);
  tensor_info(dup_tensor, "a", {8}, 0, 32).pad_to(32).zeros(64);
  Bytes dup_key = gguf_header(0, 2);
  dup_key.gguf_str("k").le<int32_t>(0).le<uint8_t>(1).gguf_str("k").le<int32_t>(0).le<uint8_t>(2);
  return {
      {"gguf empty file", {}, ErrorCode::Truncated},
      {"gguf bad magic", bytes(Bytes().raw("GGML").le<uint32_t>(3).zeros(16)), ErrorCode::BadMagic},
      {"gguf version 1", bytes(gguf_header(0, 0, 1)), ErrorCode::BadVersion},
      {"gguf version 4", bytes(gguf_header(0, 0, 4)), ErrorCode::BadVersion},
      {"gguf big-endian version", bytes(gguf_header(0, 0, 0x03000000)), ErrorCode::BadVersion},
      {"gguf truncated version", bytes(Bytes().raw("GGUF").le<uint16_t>(3)), ErrorCode::Truncated},
      {"gguf negative n_tensors", bytes(gguf_header(-1, 0)), ErrorCode::TooLarge},
      {"gguf huge n_tensors", bytes(gguf_header(INT64_MAX, 0)), ErrorCode::TooLarge},
      {"gguf huge n_kv", bytes(gguf_header(0, int64_t{1} << 40)), ErrorCode::TooLarge},
      {"gguf key length over 1 GiB", one_kv([](Bytes& b) { b.le<uint64_t>(uint64_t{1} << 40).zeros(16); }), ErrorCode::TooLarge},
      {"gguf key length past EOF", one_kv([](Bytes& b) { b.le<uint64_t>(1000).raw("abc").zeros(10); }), ErrorCode::Truncated},
      {"gguf value type 13", one_kv([](Bytes& b) { b.gguf_str("k").le<int32_t>(13).zeros(8); }), ErrorCode::BadValueType},
      {"gguf value type negative", one_kv([](Bytes& b) { b.gguf_str("k").le<int32_t>(-1).zeros(8); }), ErrorCode::BadValueType},
      {"gguf array of arrays", one_kv([](Bytes& b) { b.gguf_str("k").le<int32_t>(9).le<int32_t>(9).le<uint64_t>(1).zeros(16); }), ErrorCode::BadValueType},
      {"gguf array count over 2^30", one_kv([](Bytes& b) { b.gguf_str("k").le<int32_t>(9).le<int32_t>(0).le<uint64_t>(uint64_t{1} << 31).zeros(16); }), ErrorCode::TooLarge},
      {"gguf string array past EOF", one_kv([](Bytes& b) { b.gguf_str("k").le<int32_t>(9).le<int32_t>(8).le<uint64_t>(1000).zeros(16); }), ErrorCode::Truncated},
      {"gguf u64 array count overflow", one_kv([](Bytes& b) { b.gguf_str("k").le<int32_t>(9).le<int32_t>(10).le<uint64_t>(uint64_t{1} << 29).zeros(16); }), ErrorCode::Truncated},
      {"gguf string value over 1 GiB", one_kv([](Bytes& b) { b.gguf_str("k").le<int32_t>(8).le<uint64_t>(~uint64_t{0}); }), ErrorCode::TooLarge},
      {"gguf duplicate key", dup_key.bytes(), ErrorCode::DuplicateName},
      {"gguf empty key", one_kv([](Bytes& b) { b.gguf_str("").le<int32_t>(0).le<uint8_t>(1); }), ErrorCode::EmptyName},
      {"gguf alignment not u32", one_kv([](Bytes& b) { b.gguf_str("general.alignment").le<int32_t>(10).le<uint64_t>(32); }), ErrorCode::BadValueType},
      {"gguf alignment zero", one_kv([](Bytes& b) { b.gguf_str("general.alignment").le<int32_t>(4).le<uint32_t>(0); }), ErrorCode::BadAlignment},
      {"gguf alignment 48", one_kv([](Bytes& b) { b.gguf_str("general.alignment").le<int32_t>(4).le<uint32_t>(48); }), ErrorCode::BadAlignment},
      {"gguf five dims", one_tensor("t", {1, 1, 1, 1, 1}, 0, 0, 32), ErrorCode::BadShape},
      {"gguf negative ne", one_tensor("t", {-4}, 0, 0, 32), ErrorCode::BadShape},
      {"gguf retired type 4", one_tensor("t", {32}, 4, 0, 32), ErrorCode::BadDType},
      {"gguf type 36 (retired)", one_tensor("t", {32}, 36, 0, 32), ErrorCode::BadDType},
      {"gguf type 43 (newer than ckpt)", one_tensor("t", {32}, 43, 0, 32), ErrorCode::BadDType},
      {"gguf ne0 not a block multiple", one_tensor("t", {16}, 2, 0, 32), ErrorCode::BadShape},
      {"gguf element count overflow", one_tensor("t", {int64_t{1} << 32, int64_t{1} << 32}, 0, 0, 32), ErrorCode::Overflow},
      {"gguf byte size overflow", one_tensor("t", {int64_t{1} << 62}, 0, 0, 32), ErrorCode::Overflow},
      {"gguf name 64 bytes", one_tensor(std::string(64, 'n'), {8}, 0, 0, 32), ErrorCode::TooLarge},
      {"gguf empty tensor name", one_tensor("", {8}, 0, 0, 32), ErrorCode::EmptyName},
      {"gguf duplicate tensor", dup_tensor.bytes(), ErrorCode::DuplicateName},
      {"gguf first offset not 0", one_tensor("t", {8}, 0, 32, 64), ErrorCode::BadOffset},
      {"gguf gap between tensors", two_tensors_gap.bytes(), ErrorCode::BadOffset},
      {"gguf data past EOF", one_tensor("t", {8}, 0, 0, 16), ErrorCode::Truncated},
      {"gguf lfs pointer", lfs_bytes(), ErrorCode::LfsPointer},
  };
}

TEST(HostileCatalog, SafetensorsCasesFailWithTheirCode) {
  const auto cases = safetensors_cases();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Error e = test::expect_error(c.expected, [&] { read_safetensors(test::memory_file(c.bytes, "hostile.safetensors")); });
    EXPECT_EQ(e.file(), "hostile.safetensors");
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "message must be one line";
    if (e.offset() != Error::kNoOffset) EXPECT_LE(e.offset(), c.bytes.size());
  }
}

TEST(HostileCatalog, GgufCasesFailWithTheirCode) {
  const auto cases = gguf_cases();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Error e = test::expect_error(c.expected, [&] { read_gguf(test::memory_file(c.bytes, "hostile.gguf")); });
    EXPECT_EQ(e.file(), "hostile.gguf");
    EXPECT_FALSE(e.field().empty());
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    if (e.offset() != Error::kNoOffset) EXPECT_LE(e.offset(), c.bytes.size());
  }
}

TEST(HostileCatalog, HasAtLeastFortyCases) { EXPECT_GE(safetensors_cases().size() + gguf_cases().size(), 40u); }

// The error names the offset of the offending field, not just the file.
TEST(HostileCatalog, OffsetsPointAtTheField) {
  const auto bad_type = one_tensor("t", {32}, 36, 0, 32);
  const Error e = test::expect_error(ErrorCode::BadDType, [&] { read_gguf(test::memory_file(bad_type)); });
  EXPECT_EQ(e.offset(), 24u + 8 + 1 + 4 + 8);  // header, name, n_dims, ne[0] -> the type field
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F99","shape":[1],"data_offsets":[4,8]}})";
  const Error j = test::expect_error(ErrorCode::BadDType, [&] { read_safetensors(test::memory_file(st(header, 8))); });
  EXPECT_EQ(j.offset(), 8u + header.find("\"b\""));  // where the entry of "b" starts
}

std::vector<std::byte> small_valid_gguf() {
  BufferSink sink;
  const std::vector<std::byte> data(96, std::byte{7});
  const float scores[] = {0.5f, -1.0f};
  write_gguf(sink,
             {{"general.architecture", {std::string("llama")}, 0},
              {"n", {uint32_t{5}}, 0},
              {"scores", GgufValue::numeric_array<float>(GgufType::F32, scores), 0},
              {"tokens", GgufValue::string_array({"a", "bc"}), 0}},
             {{"w", {32}, DType::Q8_0, write_bytes_from(std::span(data).first(34))},
              {"v", {4, 2}, DType::F32, write_bytes_from(std::span(data).first(32))}});
  return sink.take();
}

TEST(HostileCatalog, EveryTruncationOfAGgufFailsCleanly) {
  const auto full = small_valid_gguf();
  const auto file = read_gguf(test::memory_file(full));
  const uint64_t data_end = file.data_offset + file.tensors.back().offset_in_data + file.tensors.back().n_bytes;
  for (size_t n = 0; n < full.size(); ++n) {
    const std::span<const std::byte> prefix(full.data(), n);
    if (n >= data_end) {
      EXPECT_NO_THROW(read_gguf(test::memory_file(prefix))) << n;  // only trailing padding is missing
    } else {
      EXPECT_THROW(read_gguf(test::memory_file(prefix)), Error) << "prefix of " << n << " bytes";
    }
  }
}

TEST(HostileCatalog, EveryTruncationOfASafetensorsFileFailsCleanly) {
  BufferSink sink;
  const std::vector<std::byte> data(24, std::byte{1});
  write_safetensors(sink, {{"a", DType::F32, {2, 2}, write_bytes_from(std::span(data).first(16))},
                           {"b", DType::BF16, {4}, write_bytes_from(std::span(data).first(8))}},
                    {{"format", "pt"}});
  const auto full = sink.take();
  for (size_t n = 0; n < full.size(); ++n) {
    EXPECT_THROW(read_safetensors(test::memory_file(std::span(full.data(), n))), Error) << n;
  }
  EXPECT_NO_THROW(read_safetensors(test::memory_file(full)));
}

}  // namespace
}  // namespace ckpt
