// tokenizer.model: a SentencePiece ModelProto, read with a minimal protobuf wire-format decoder.
//   ModelProto      { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2; NormalizerSpec normalizer_spec = 3; }
//   SentencePiece   { string piece = 1; float score = 2; Type type = 3 (NORMAL=1 UNKNOWN=2 CONTROL=3 USER_DEFINED=4 UNUSED=5 BYTE=6); }
//   TrainerSpec     { int32 unk_id = 40; int32 bos_id = 41; int32 eos_id = 42; int32 pad_id = 43; }
//   NormalizerSpec  { bool add_dummy_prefix = 3; }
#include "formats/tokenizer_meta.h"

#include <cstring>

#include "formats/byte_reader.h"
#include "formats/lfs_pointer.h"
#include "formats/mapped_file.h"

namespace ckpt {

namespace {

class ProtoReader {
 public:
  ProtoReader(std::span<const std::byte> bytes, const std::string& file, uint64_t base)
      : r_(bytes, file), base_(base) {}

  bool done() const { return r_.remaining() == 0; }
  uint64_t varint(std::string_view field) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const auto b = r_.read<uint8_t>(field);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail(field, "varint longer than 10 bytes");
  }
  // Reads a tag; returns {field number, wire type}.
  std::pair<uint64_t, uint32_t> tag() {
    const uint64_t t = varint("protobuf tag");
    return {t >> 3, static_cast<uint32_t>(t & 7)};
  }
  std::span<const std::byte> bytes_field(std::string_view field) { return r_.read_bytes(varint(field), field); }
  float fixed32_float(std::string_view field) { return r_.read<float>(field); }
  void skip(uint32_t wire, std::string_view field) {
    switch (wire) {
      case 0: varint(field); return;
      case 1: r_.skip(8, field); return;
      case 2: bytes_field(field); return;
      case 5: r_.skip(4, field); return;
      default: fail(field, "unsupported wire type " + std::to_string(wire));
    }
  }
  uint64_t offset() const { return base_ + r_.offset(); }
  [[noreturn]] void fail(std::string_view field, std::string detail) const {
    throw Error(ErrorCode::BadValueType, r_.file(), offset(), std::string(field), std::move(detail));
  }

 private:
  ByteReader r_;
  uint64_t base_;
};

}  // namespace

TokenizerMeta read_sentencepiece_model(const std::string& path) {
  const auto file = MappedFile::open(path);
  throw_if_lfs_pointer(file->bytes(), path);
  TokenizerMeta meta;
  meta.model = "llama";
  meta.pre = "default";
  meta.source_files.push_back(path);
  int64_t unk = 0, bos = 1, eos = 2, pad = -1;  // SentencePiece defaults
  ProtoReader top(file->bytes(), path, 0);
  while (!top.done()) {
    const auto [field, wire] = top.tag();
    if (field == 1 && wire == 2) {
      const uint64_t at = top.offset();
      ProtoReader piece(top.bytes_field("pieces"), path, at);
      std::string text;
      float score = 0;
      uint64_t type = 1;
      while (!piece.done()) {
        const auto [f, w] = piece.tag();
        if (f == 1 && w == 2) {
          const auto b = piece.bytes_field("piece");
          text.assign(reinterpret_cast<const char*>(b.data()), b.size());
        } else if (f == 2 && w == 5) {
          score = piece.fixed32_float("score");
        } else if (f == 3 && w == 0) {
          type = piece.varint("type");
        } else {
          piece.skip(w, "piece field");
        }
      }
      if (type < 1 || type > 6) piece.fail("type", "unknown piece type " + std::to_string(type));
      meta.tokens.push_back(std::move(text));
      meta.scores.push_back(score);
      meta.types.push_back(static_cast<TokenType>(type));
    } else if (field == 2 && wire == 2) {
      const uint64_t at = top.offset();
      ProtoReader spec(top.bytes_field("trainer_spec"), path, at);
      while (!spec.done()) {
        const auto [f, w] = spec.tag();
        if (f == 3 && w == 0) {
          meta.sentencepiece_type = static_cast<uint32_t>(spec.varint("model_type"));
        } else if (w == 0 && f >= 40 && f <= 43) {
          const auto v = static_cast<int64_t>(spec.varint("id"));  // int32 negatives arrive sign-extended
          (f == 40 ? unk : f == 41 ? bos : f == 42 ? eos : pad) = v;
        } else {
          spec.skip(w, "trainer_spec field");
        }
      }
    } else if (field == 3 && wire == 2) {
      const uint64_t at = top.offset();
      ProtoReader spec(top.bytes_field("normalizer_spec"), path, at);
      while (!spec.done()) {
        const auto [f, w] = spec.tag();
        if (f == 3 && w == 0) {
          meta.add_space_prefix = spec.varint("add_dummy_prefix") != 0;
        } else if (f == 4 && w == 0) {
          meta.remove_extra_whitespaces = spec.varint("remove_extra_whitespaces") != 0;
        } else if (f == 2 && w == 2) {
          const auto b = spec.bytes_field("precompiled_charsmap");
          meta.precompiled_charsmap.assign(reinterpret_cast<const char*>(b.data()), b.size());
        } else {
          spec.skip(w, "normalizer_spec field");
        }
      }
    } else {
      top.skip(wire, "model field");
    }
  }
  if (meta.tokens.empty()) throw Error(ErrorCode::BadValueType, path, 0, "pieces", "no pieces: not a SentencePiece model");
  auto id = [&](int64_t v) -> std::optional<uint32_t> {
    if (v < 0 || static_cast<uint64_t>(v) >= meta.tokens.size()) return std::nullopt;
    return static_cast<uint32_t>(v);
  };
  meta.unk_id = id(unk);
  meta.bos_id = id(bos);
  meta.eos_id = id(eos);
  meta.pad_id = id(pad);
  return meta;
}

}  // namespace ckpt
