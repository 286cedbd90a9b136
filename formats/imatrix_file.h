// llama.cpp's importance matrix (llama-imatrix output), the input of `ckpt quantize --imatrix`.
//
// Two layouts, told apart by the first four bytes:
//   GGUF (current): per weight tensor NAME two F32 tensors, NAME.in_sum2 (sum of squared activations per
//     column, ne = [n_cols, n_expert]) and NAME.counts (tokens seen, ne = [1, n_expert]); keys
//     imatrix.datasets (string array), imatrix.chunk_count, imatrix.chunk_size (u32). llama-quantize
//     refuses a GGUF imatrix without those three keys.
//   legacy .dat: i32 n_entries, then per entry { i32 name_len | name | i32 ncall | i32 nval | f32[nval] }
//     (values already divided by the tokens of each call), then optionally i32 chunk_count, i32 len,
//     dataset name. All little-endian.
// Values are normalised as llama-quantize's load_imatrix does: GGUF sums / count per expert (1 where a
// count is 0), legacy values / ncall.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace ckpt {

struct ImportanceMatrix {
  std::string path;
  std::map<std::string, std::vector<float>> entries;  // weight tensor name -> importance per column (per expert)
  std::vector<std::string> datasets;
  uint32_t chunk_count = 0;
  bool legacy = false;
};

// Throws Error naming the file, the entry and the byte offset on anything malformed: truncation,
// counts past the bytes left, sums without counts, sizes that do not divide, non-finite values.
ImportanceMatrix read_imatrix(const std::string& path);
ImportanceMatrix parse_imatrix(const std::string& name, std::span<const std::byte> bytes);

}  // namespace ckpt
