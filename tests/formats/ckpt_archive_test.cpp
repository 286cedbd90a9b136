// The .ckpt archive (formats/ckpt_archive.h): round trip and layout, determinism, canonical order;
// every flipped bit of tensor data found by verify (exhaustively, on a small archive); every flipped
// byte of the index or trailer refused on open; truncation at every boundary refused; a newer major
// version refused; and a catalog of hostile indexes with valid checksums.
#include <gtest/gtest.h>

#include <filesystem>
#include <zlib.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "formats/ckpt_archive.h"
#include "formats/ckpt_archive_sign.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

std::vector<std::byte> bytes_of(const std::string& s) {
  const auto b = std::as_bytes(std::span(s.data(), s.size()));
  return {b.begin(), b.end()};
}

struct Small {
  std::vector<std::byte> f16 = std::vector<std::byte>(4 * 32 * 2), q8 = std::vector<std::byte>(2 * 34), u8 = std::vector<std::byte>(5);
  Small() {
    for (size_t i = 0; i < f16.size(); ++i) f16[i] = static_cast<std::byte>(i * 7 + 1);
    for (size_t i = 0; i < q8.size(); ++i) q8[i] = static_cast<std::byte>(i * 13 + 5);
    for (size_t i = 0; i < u8.size(); ++i) u8[i] = static_cast<std::byte>(200 + i);
  }
  void write(const std::string& path) const {
    write_ckpt_archive(path, "hf-checkpoint",
                       {{"blk.10.w", DType::F16, {4, 32}, f16}, {"blk.2.q", DType::Q8_0, {2, 32}, q8}, {"codes", DType::U8, {5}, u8}},
                       {{"config.json", "file", bytes_of(std::string(600, 'x') + "{\"a\": 1}"), true},
                        {"tokenizer.json", "file", bytes_of("{\"model\": {}}"), false},
                        {"future", "some-later-kind", bytes_of("?"), false}},
                       2);
  }
};

TEST(CkptArchive, RoundTripLayoutAndCanonicalOrder) {
  test::TempDir dir;
  const Small s;
  s.write(dir.file("a.ckpt"));
  const CkptArchive a = read_ckpt_archive(dir.file("a.ckpt"));
  ASSERT_EQ(a.tensors.size(), 3u);
  EXPECT_EQ(a.tensors[0].name, "blk.2.q");  // digit runs compare as numbers
  EXPECT_EQ(a.tensors[1].name, "blk.10.w");
  EXPECT_EQ(a.tensors[2].name, "codes");
  EXPECT_EQ(a.origin, "hf-checkpoint");
  const std::vector<std::byte>* expected[] = {&s.q8, &s.f16, &s.u8};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a.tensors[i].offset % kCkptAlignment, 0u);
    EXPECT_TRUE(std::equal(a.tensors[i].data.begin(), a.tensors[i].data.end(), expected[i]->begin(), expected[i]->end())) << a.tensors[i].name;
    EXPECT_EQ(a.tensors[i].sha256, sha256(*expected[i]));
  }
  EXPECT_EQ(a.tensors[1].shape, (std::vector<uint64_t>{4, 32}));
  EXPECT_EQ(a.tensors[0].dtype, DType::Q8_0);
  EXPECT_EQ(a.section_text("tokenizer.json"), "{\"model\": {}}");
  EXPECT_EQ(a.section_text("config.json"), std::string(600, 'x') + "{\"a\": 1}");
  EXPECT_TRUE(a.find_section("config.json")->zlib);  // compressible: stored deflated
  EXPECT_FALSE(a.find_section("future")->known_kind());  // kept, reported, not fatal
  EXPECT_TRUE(verify_ckpt_archive(a, 2).ok());
  // The manifest is the index's SHA-256, and the same input gives the same bytes.
  EXPECT_EQ(a.manifest, sha256(a.file->bytes().subspan(a.index_offset, a.index_length)));
  s.write(dir.file("b.ckpt"));
  EXPECT_EQ(test::read_file_bytes(dir.file("a.ckpt")), test::read_file_bytes(dir.file("b.ckpt")));
}

TEST(CkptArchive, NameOrderIsNumericOnDigitRuns) {
  EXPECT_TRUE(ckpt_name_less("blk.2.x", "blk.10.x"));
  EXPECT_FALSE(ckpt_name_less("blk.10.x", "blk.2.x"));
  EXPECT_TRUE(ckpt_name_less("a", "b"));
  EXPECT_TRUE(ckpt_name_less("a", "a.b"));
  EXPECT_TRUE(ckpt_name_less("x1", "x01"));
  EXPECT_FALSE(ckpt_name_less("same", "same"));
}

TEST(CkptArchive, EveryFlippedTensorBitIsFoundAndNamed) {
  test::TempDir dir;
  Small s;
  s.write(dir.file("a.ckpt"));
  const auto good = test::read_file_bytes(dir.file("a.ckpt"));
  const CkptArchive ref = read_ckpt_archive(dir.file("a.ckpt"));
  size_t flips = 0;
  for (const auto& t : ref.tensors) {
    for (uint64_t byte = t.offset; byte < t.offset + t.length; ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        auto bad = good;
        bad[byte] ^= static_cast<std::byte>(1 << bit);
        const CkptArchive a = read_ckpt_archive(MappedFile::from_bytes("flipped.ckpt", bad));
        const auto r = verify_ckpt_archive(a, 1);
        ASSERT_EQ(r.bad_tensors, std::vector<std::string>{t.name}) << "byte " << byte << " bit " << bit;
        ++flips;
      }
    }
  }
  EXPECT_EQ(flips, 8 * (s.f16.size() + s.q8.size() + s.u8.size()));
}

TEST(CkptArchive, EveryFlippedIndexOrTrailerByteIsRefusedOnOpen) {
  test::TempDir dir;
  Small().write(dir.file("a.ckpt"));
  const auto good = test::read_file_bytes(dir.file("a.ckpt"));
  const CkptArchive ref = read_ckpt_archive(dir.file("a.ckpt"));
  for (uint64_t byte = ref.index_offset; byte < good.size(); ++byte) {
    auto bad = good;
    bad[byte] ^= std::byte{0x20};
    EXPECT_THROW(read_ckpt_archive(MappedFile::from_bytes("flipped.ckpt", bad)), Error) << "byte " << byte;
  }
  // The reserved trailer bytes are under the trailer CRC too, by name.
  auto bad = good;
  bad[good.size() - 1] ^= std::byte{1};
  test::expect_error(ErrorCode::BadChecksum, [&] { read_ckpt_archive(MappedFile::from_bytes("flipped.ckpt", bad)); });
}

TEST(CkptArchive, SectionDamageIsFoundByVerifyAndOnDecode) {
  test::TempDir dir;
  Small().write(dir.file("a.ckpt"));
  auto bytes = test::read_file_bytes(dir.file("a.ckpt"));
  const CkptArchive ref = read_ckpt_archive(dir.file("a.ckpt"));
  const CkptSection& tok = *ref.find_section("tokenizer.json");
  bytes[tok.offset + 3] ^= std::byte{4};
  const CkptArchive a = read_ckpt_archive(MappedFile::from_bytes("damaged.ckpt", bytes));
  EXPECT_EQ(verify_ckpt_archive(a, 1).bad_sections, std::vector<std::string>{"tokenizer.json"});
  test::expect_error(ErrorCode::BadChecksum, [&] { a.section_text("tokenizer.json"); });
}

TEST(CkptArchive, TruncationAtEveryBoundaryIsRefused) {
  test::TempDir dir;
  Small().write(dir.file("a.ckpt"));
  const auto good = test::read_file_bytes(dir.file("a.ckpt"));
  const CkptArchive ref = read_ckpt_archive(dir.file("a.ckpt"));
  std::vector<uint64_t> cuts = {0, 7, 8, 16, kCkptAlignment, ref.index_offset, ref.index_offset + ref.index_length, good.size() - 1, good.size() - kCkptTrailerBytes};
  for (const auto& t : ref.tensors) cuts.push_back(t.offset), cuts.push_back(t.offset + t.length);
  for (const auto& s : ref.sections) cuts.push_back(s.offset), cuts.push_back(s.offset + s.length);
  for (uint64_t cut : cuts) {
    const std::vector<std::byte> part(good.begin(), good.begin() + static_cast<ptrdiff_t>(cut));
    EXPECT_THROW(read_ckpt_archive(MappedFile::from_bytes("cut.ckpt", part)), Error) << "cut at " << cut;
  }
}

// Hostile indexes with valid CRCs: the lead page, the data, an index given as JSON, the trailer.
std::vector<std::byte> assemble(const std::string& index, uint16_t major = 1, uint64_t data_bytes = 2 * kCkptAlignment) {
  std::vector<std::byte> f(kCkptAlignment + data_bytes, std::byte{0});
  std::memcpy(f.data(), "CKPTARC", 8);
  std::memcpy(f.data() + 8, &major, 2);
  const uint64_t index_offset = f.size(), index_length = index.size();
  for (char c : index) f.push_back(static_cast<std::byte>(c));
  std::array<std::byte, kCkptTrailerBytes> tr{};
  std::memcpy(tr.data(), "CKPTIDX", 8);
  std::memcpy(tr.data() + 8, &index_offset, 8);
  std::memcpy(tr.data() + 16, &index_length, 8);
  const auto crc = [](std::span<const std::byte> b) { return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(b.size()))); };
  const uint32_t icrc = crc(std::span(f).subspan(index_offset, index_length));
  std::memcpy(tr.data() + 24, &icrc, 4);
  const uint32_t tcrc = crc(tr);
  std::memcpy(tr.data() + 28, &tcrc, 4);
  f.insert(f.end(), tr.begin(), tr.end());
  return f;
}

// std::vector, not a braced json: {single_object} would copy the object instead of making an array.
std::string index_with(const std::vector<nlohmann::json>& tensors, const std::vector<nlohmann::json>& sections = {}) {
  return nlohmann::json{{"format", "ckpt-archive"}, {"version", {1, 0}}, {"origin", "x"}, {"tensors", tensors}, {"sections", sections}}.dump();
}

const std::string kZeros = std::string(64, '0');

nlohmann::json tensor(const std::string& name, const std::string& dtype, std::vector<uint64_t> shape, uint64_t offset, uint64_t length) {
  return {{"name", name}, {"dtype", dtype}, {"shape", shape}, {"offset", offset}, {"length", length}, {"sha256", kZeros}};
}

TEST(CkptArchive, HostileIndexCatalog) {
  auto open = [](const std::vector<std::byte>& f) { return read_ckpt_archive(MappedFile::from_bytes("hostile.ckpt", f)); };
  // Valid to start from: one F32 [2, 2] tensor.
  EXPECT_NO_THROW(open(assemble(index_with({tensor("t", "F32", {2, 2}, 4096, 16)}))));
  test::expect_error(ErrorCode::BadVersion, [&] { open(assemble(index_with({}), 2)); });
  test::expect_error(ErrorCode::SizeMismatch, [&] { open(assemble(index_with({tensor("t", "F32", {2, 2}, 4096, 12)}))); });
  test::expect_error(ErrorCode::SizeMismatch, [&] { open(assemble(index_with({tensor("t", "Q4_K", {1, 100}, 4096, 144)}))); });  // not whole blocks
  test::expect_error(ErrorCode::SizeMismatch, [&] { open(assemble(index_with({tensor("t", "F32", {1ull << 40, 1ull << 40}, 4096, 16)}))); });  // overflow
  test::expect_error(ErrorCode::BadAlignment, [&] { open(assemble(index_with({tensor("t", "F32", {2, 2}, 4100, 16)}))); });
  test::expect_error(ErrorCode::BadOffset, [&] { open(assemble(index_with({tensor("t", "F32", {2, 2}, 3 * 4096, 16)}))); });  // past the index
  test::expect_error(ErrorCode::BadOffset, [&] { open(assemble(index_with({tensor("a", "F32", {2, 2}, 4096, 16), tensor("b", "F32", {2, 2}, 4096, 16)}))); });  // overlap
  test::expect_error(ErrorCode::DuplicateName,
                     [&] { open(assemble(index_with({tensor("a", "F32", {2, 2}, 4096, 16), tensor("a", "F32", {2, 2}, 8192, 16)}))); });
  test::expect_error(ErrorCode::BadDType, [&] { open(assemble(index_with({tensor("t", "F33", {2, 2}, 4096, 16)}))); });
  test::expect_error(ErrorCode::EmptyName, [&] { open(assemble(index_with({tensor("", "F32", {2, 2}, 4096, 16)}))); });
  test::expect_error(ErrorCode::BadJson, [&] { open(assemble("{\"format\": \"ckpt-archive\", \"tensors\": [")); });
  test::expect_error(ErrorCode::BadJson, [&] { open(assemble(index_with({nlohmann::json{{"name", "t"}}}))); });
  auto sec = [](uint64_t length, uint64_t size, const std::string& comp) {
    return nlohmann::json{{"name", "s"}, {"kind", "file"}, {"offset", 4096}, {"length", length}, {"size", size}, {"compression", comp}, {"sha256", kZeros}};
  };
  test::expect_error(ErrorCode::SizeMismatch, [&] { open(assemble(index_with({}, {sec(10, 11, "none")}))); });
  test::expect_error(ErrorCode::SizeMismatch, [&] { open(assemble(index_with({}, {sec(10, uint64_t{1} << 40, "zlib")}))); });  // decoded-size cap
  test::expect_error(ErrorCode::Unsupported, [&] { open(assemble(index_with({}, {sec(10, 10, "lz77")}))); });
  // A zlib section whose bytes are not what the index says: refused when decoded.
  const CkptArchive a = open(assemble(index_with({}, {sec(10, 100, "zlib")})));
  test::expect_error(ErrorCode::BadChecksum, [&] { a.section_bytes(a.sections[0]); });
  // Index too large / outside the file.
  auto huge = assemble(index_with({}));
  const uint64_t big = kCkptMaxIndexBytes + 1;
  std::memcpy(huge.data() + huge.size() - kCkptTrailerBytes + 16, &big, 8);
  EXPECT_THROW(open(huge), Error);  // the trailer CRC no longer matches, or the cap: either way refused
  test::expect_error(ErrorCode::BadMagic, [&] { open(std::vector<std::byte>(5000)); });
}

// An Ed25519 key pair written as PEM (as `openssl genpkey -algorithm ed25519` / `openssl pkey -pubout` do).
std::pair<std::string, std::string> make_keys(const test::TempDir& dir, const std::string& name) {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  EXPECT_NE(k, nullptr);
  const std::string priv = dir.file(name + ".pem"), pub = dir.file(name + ".pub.pem");
  FILE* f = std::fopen(priv.c_str(), "wb");
  PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  f = std::fopen(pub.c_str(), "wb");
  PEM_write_PUBKEY(f, k);
  std::fclose(f);
  EVP_PKEY_free(k);
  return {priv, pub};
}

TEST(CkptArchiveSignature, SignsTheManifestAndLeavesTheDataAlone) {
  test::TempDir dir;
  Small().write(dir.file("a.ckpt"));
  const auto before = test::read_file_bytes(dir.file("a.ckpt"));
  const auto [priv, pub] = make_keys(dir, "k");
  const auto [other_priv, other_pub] = make_keys(dir, "other");
  EXPECT_FALSE(check_ckpt_signature(read_ckpt_archive(dir.file("a.ckpt")), pub).signed_);
  sign_ckpt_archive(dir.file("a.ckpt"), priv);
  const auto after = test::read_file_bytes(dir.file("a.ckpt"));
  const CkptArchive a = read_ckpt_archive(dir.file("a.ckpt"));
  // Tensor data, sections and index: the same bytes at the same offsets.
  const uint64_t index_end = a.index_offset + a.index_length;
  EXPECT_TRUE(std::equal(before.begin(), before.begin() + static_cast<ptrdiff_t>(index_end), after.begin()));
  EXPECT_EQ(a.signature_length, kCkptSignatureBytes);
  EXPECT_TRUE(verify_ckpt_archive(a, 1).ok());
  const auto good = check_ckpt_signature(a, pub);
  EXPECT_TRUE(good.signed_ && good.valid && good.key_matches);
  const auto wrong = check_ckpt_signature(a, other_pub);
  EXPECT_TRUE(wrong.valid);
  EXPECT_FALSE(wrong.key_matches);
  // Signing again replaces the signature.
  sign_ckpt_archive(dir.file("a.ckpt"), other_priv);
  EXPECT_TRUE(check_ckpt_signature(read_ckpt_archive(dir.file("a.ckpt")), other_pub).key_matches);
  EXPECT_EQ(test::read_file_bytes(dir.file("a.ckpt")).size(), after.size());
  test::expect_error(ErrorCode::BadMagic, [&] { check_ckpt_signature(a, dir.file("a.ckpt")); });  // not a key
}

// A forger who changes a section and fixes its SHA-256 in the index (and both CRCs) still changes the
// manifest: the signature no longer verifies.
TEST(CkptArchiveSignature, ATamperedSectionFailsTheSignature) {
  test::TempDir dir;
  Small().write(dir.file("a.ckpt"));
  const auto [priv, pub] = make_keys(dir, "k");
  sign_ckpt_archive(dir.file("a.ckpt"), priv);
  auto bytes = test::read_file_bytes(dir.file("a.ckpt"));
  const CkptArchive a = read_ckpt_archive(dir.file("a.ckpt"));
  const CkptSection& tok = *a.find_section("tokenizer.json");  // stored raw
  std::string text = a.section_text("tokenizer.json");
  text[2] = 'X';
  std::memcpy(bytes.data() + tok.offset, text.data(), text.size());
  std::string index(reinterpret_cast<const char*>(bytes.data() + a.index_offset), a.index_length);
  const std::string old_hex = to_hex(tok.sha256), new_hex = to_hex(sha256(std::as_bytes(std::span(text))));
  index.replace(index.find(old_hex), old_hex.size(), new_hex);
  std::memcpy(bytes.data() + a.index_offset, index.data(), index.size());
  auto crc = [](std::span<const std::byte> b) { return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(b.size()))); };
  const uint64_t t0 = bytes.size() - kCkptTrailerBytes;
  const uint32_t icrc = crc(std::span(bytes).subspan(a.index_offset, a.index_length));
  std::memcpy(bytes.data() + t0 + 24, &icrc, 4);
  std::memset(bytes.data() + t0 + 28, 0, 4);
  const uint32_t tcrc = crc(std::span(bytes).subspan(t0, kCkptTrailerBytes));
  std::memcpy(bytes.data() + t0 + 28, &tcrc, 4);
  const CkptArchive forged = read_ckpt_archive(MappedFile::from_bytes("forged.ckpt", bytes));
  EXPECT_TRUE(verify_ckpt_archive(forged, 1).ok());  // every digest agrees with the forged index...
  const auto c = check_ckpt_signature(forged, pub);
  EXPECT_TRUE(c.signed_);
  EXPECT_FALSE(c.valid);  // ...but the signed manifest does not
}

// Adding and removing sections: tensors and the sections before the first removed one keep their
// bytes and offsets; removing moves later sections up; a signature does not survive a manifest change.
TEST(CkptArchiveUpdate, SectionsChangeAndTensorDataStays) {
  test::TempDir dir;
  Small().write(dir.file("a.ckpt"));
  const auto original = test::read_file_bytes(dir.file("a.ckpt"));
  const CkptArchive before = read_ckpt_archive(dir.file("a.ckpt"));
  const auto [priv, pub] = make_keys(dir, "k");
  sign_ckpt_archive(dir.file("a.ckpt"), priv);
  update_ckpt_archive(dir.file("a.ckpt"), dir.file("b.ckpt"), {{"notes", "file", bytes_of(std::string(5000, 'n')), false}}, {});
  const auto b = test::read_file_bytes(dir.file("b.ckpt"));
  EXPECT_TRUE(std::equal(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(before.index_offset), b.begin()));
  const CkptArchive added = read_ckpt_archive(dir.file("b.ckpt"));
  EXPECT_EQ(added.signature_offset, 0u);
  EXPECT_EQ(added.section_text("notes"), std::string(5000, 'n'));
  EXPECT_EQ(added.sections.back().offset % kCkptAlignment, 0u);
  EXPECT_TRUE(verify_ckpt_archive(added, 1).ok());
  // Removing a section from the middle: the tensors stay, later sections move up and still verify.
  update_ckpt_archive(dir.file("b.ckpt"), dir.file("c.ckpt"), {}, {"config.json"});
  const CkptArchive removed = read_ckpt_archive(dir.file("c.ckpt"));
  EXPECT_EQ(removed.find_section("config.json"), nullptr);
  EXPECT_EQ(removed.section_text("tokenizer.json"), "{\"model\": {}}");
  EXPECT_EQ(removed.section_text("notes"), std::string(5000, 'n'));
  for (size_t i = 0; i < before.tensors.size(); ++i) {
    EXPECT_EQ(removed.tensors[i].offset, before.tensors[i].offset);
    EXPECT_TRUE(std::ranges::equal(removed.tensors[i].data, before.tensors[i].data));
  }
  EXPECT_LT(removed.file->size(), added.file->size());
  EXPECT_TRUE(verify_ckpt_archive(removed, 1).ok());
  // Adding back what was removed, then removing what was added, gives back the unsigned original.
  update_ckpt_archive(dir.file("b.ckpt"), dir.file("d.ckpt"), {}, {"notes"});
  EXPECT_EQ(test::read_file_bytes(dir.file("d.ckpt")), original);
  test::expect_error(ErrorCode::NotFound, [&] { update_ckpt_archive(dir.file("b.ckpt"), dir.file("e.ckpt"), {}, {"nope"}); });
  test::expect_error(ErrorCode::DuplicateName, [&] { update_ckpt_archive(dir.file("b.ckpt"), dir.file("e.ckpt"), {{"notes", "file", {}, false}}, {}); });
  EXPECT_FALSE(std::filesystem::exists(dir.file("e.ckpt")));
}

}  // namespace
}  // namespace ckpt
