// Checked arithmetic, the bounded cursor, UTF-8 validation and display escaping.
#include <gtest/gtest.h>

#include "formats/byte_reader.h"
#include "formats/checked_math.h"
#include "formats/error.h"
#include "formats/utf8.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

TEST(CheckedMath, DetectsOverflow) {
  EXPECT_EQ(checked_mul(uint64_t{1} << 32, uint64_t{1} << 31), uint64_t{1} << 63);
  EXPECT_FALSE(checked_mul(uint64_t{1} << 32, uint64_t{1} << 32));
  EXPECT_FALSE(checked_add(UINT64_MAX, 1));
  const uint64_t dims[] = {2, 9223372036854775807ull};
  EXPECT_EQ(checked_product(dims), 18446744073709551614ull);
  const uint64_t too_big[] = {2, 18446744073709551614ull};
  EXPECT_FALSE(checked_product(too_big));
  EXPECT_EQ(checked_product({}), 1u);
  EXPECT_EQ(align_up(33, 32), 64u);
  EXPECT_EQ(align_up(64, 32), 64u);
  EXPECT_FALSE(align_up(UINT64_MAX - 3, 32));
  EXPECT_TRUE(is_power_of_two(1));
  EXPECT_FALSE(is_power_of_two(0));
  EXPECT_FALSE(is_power_of_two(48));
}

TEST(ByteReader, ReadsLittleEndianAndRefusesToRunPastTheEnd) {
  test::Bytes b;
  b.le<uint32_t>(0x01020304).le<uint16_t>(0xBEEF).raw("xy");
  ByteReader r(b.bytes(), "f.bin");
  EXPECT_EQ(r.read<uint32_t>("a"), 0x01020304u);
  EXPECT_EQ(r.read<uint16_t>("b"), 0xBEEFu);
  EXPECT_EQ(r.offset(), 6u);
  const Error e = test::expect_error(ErrorCode::Truncated, [&] { r.read<uint32_t>("c"); });
  EXPECT_EQ(e.offset(), 6u);
  EXPECT_EQ(e.field(), "c");
  EXPECT_EQ(r.offset(), 6u) << "a failed read must not move the cursor";
  test::expect_error(ErrorCode::Truncated, [&] { r.read_bytes(UINT64_MAX, "huge"); });
  EXPECT_EQ(r.read_chars(2, "s"), "xy");
}

TEST(Utf8, ValidatesStrictly) {
  EXPECT_EQ(find_invalid_utf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("h\xc3\xa9llo \xe2\x96\x81 \xf0\x9f\x98\x80"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("ab\xc0\xaf"), 2u);          // overlong '/'
  EXPECT_EQ(find_invalid_utf8("\xed\xa0\x80"), 0u);        // surrogate
  EXPECT_EQ(find_invalid_utf8("\xf4\x90\x80\x80"), 0u);    // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("abc\xe2\x96"), 3u);         // truncated sequence
  EXPECT_EQ(find_invalid_utf8("\x80"), 0u);                // lone continuation
}

TEST(Error, MessageNamesFileOffsetAndFieldOnOneLine) {
  const Error e(ErrorCode::BadOffset, "model.gguf", 0x1a2c, "tensor 'blk.0.attn_q.weight' offset", "expected 4096, got 4100");
  EXPECT_STREQ(e.what(), "model.gguf: offset 6700 (0x1a2c): tensor 'blk.0.attn_q.weight' offset: expected 4096, got 4100");
  const Error hostile(ErrorCode::BadJson, "x", 1, "name\x1b[31m\nnext", "bad\r");
  EXPECT_EQ(std::string(hostile.what()).find_first_of("\n\r\x1b"), std::string::npos);
  EXPECT_EQ(escape_for_display("a\x1b[2Jb\\"), "a\\x1b[2Jb\\\\");
  EXPECT_EQ(escape_for_display("caf\xc3\xa9 \xff"), "caf\xc3\xa9 \\xff");
}

}  // namespace
}  // namespace ckpt
