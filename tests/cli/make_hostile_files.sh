#!/usr/bin/env bash
# Writes a few bad files for the CLI tests into $1 (generated at test time, not committed).
set -eu
d=$1
rm -rf "$d"  # outputs of an earlier run would make the directory-output tests refuse (non-empty)
mkdir -p "$d"
# GGUF whose only tensor has the invalid ggml type 39 (the type field is at offset 45).
{ printf 'GGUF\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'
  printf '\x01\x00\x00\x00\x00\x00\x00\x00t\x01\x00\x00\x00\x20\x00\x00\x00\x00\x00\x00\x00'
  printf '\x27\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'; head -c 64 /dev/zero; } >"$d/bad-type.gguf"
# safetensors whose header length points past the end of the file.
printf '\x3c\x00\x00\x00\x00\x00\x00\x00{}' >"$d/short.safetensors"
# A Git LFS pointer where a model should be.
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 4368\n' >"$d/lfs.safetensors"
# Not a model at all.
printf 'hello world\n' >"$d/notes.txt"
# An HF directory of an architecture ckpt does not convert.
mkdir -p "$d/bert"
printf '{"architectures": ["BertModel"], "hidden_size": 8}' >"$d/bert/config.json"
printf '\x08\x00\x00\x00\x00\x00\x00\x00{}      ' >"$d/bert/model.safetensors"
# An HF directory whose pytorch_model.bin pickle calls os.system (written by write_evil_bin, $2).
mkdir -p "$d/evil"
printf '{"architectures": ["LlamaForCausalLM"]}' >"$d/evil/config.json"
"$2" "$d/evil/pytorch_model.bin"
