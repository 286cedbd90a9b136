#!/usr/bin/env bash
# Writes a few bad files for the CLI tests into $1 (generated at test time, not committed).
set -eu
d=$1
rm -rf "$d"  # outputs of an earlier run would make the directory-output tests refuse (non-empty)
mkdir -p "$d"
# GGUF whose only tensor has the retired ggml type 36 (the type field is at offset 45).
{ printf 'GGUF\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'
  printf '\x01\x00\x00\x00\x00\x00\x00\x00t\x01\x00\x00\x00\x20\x00\x00\x00\x00\x00\x00\x00'
  printf '\x24\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'; head -c 64 /dev/zero; } >"$d/bad-type.gguf"
# safetensors whose header length points past the end of the file.
printf '\x3c\x00\x00\x00\x00\x00\x00\x00{}' >"$d/short.safetensors"
# A Git LFS pointer where a model should be.
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 4368\n' >"$d/lfs.safetensors"
# Not a model at all.
printf 'hello world\n' >"$d/notes.txt"
# An HF directory of an architecture ckpt does not convert.
mkdir -p "$d/mamba"
printf '{"architectures": ["MambaForCausalLM"], "hidden_size": 8}' >"$d/mamba/config.json"
printf '\x08\x00\x00\x00\x00\x00\x00\x00{}      ' >"$d/mamba/model.safetensors"
# Pickles, GGUF hyper-parameters, safetensors headers, config/tensor disagreements and the fault-test
# model: written by write_hostile_inputs ($2) from the sample checkpoint ($3).
"$2" "$d" "$3"
# A FIFO named like a model file: readers must refuse it, not wait for a writer forever.
mkdir -p "$d/fifo-dir"
cp "$3/config.json" "$d/fifo-dir/"
mkfifo "$d/fifo-dir/model.safetensors" "$d/fifo.gguf"
# Chat templates: a misspelled end tag on line 2, and one that raises as Mistral's do for a system turn.
printf '{%% for m in messages %%}{{ m.content }}\n{%% endfro %%}' >"$d/bad-template.jinja"
printf "{%% if messages[0]['role'] == 'system' %%}{{ raise_exception('roles must alternate') }}{%% endif %%}" >"$d/raise.jinja"
# A prompt holding a terminal escape sequence (run must print it escaped).
printf 'Once \033[2J upon' >"$d/escape-prompt.txt"
printf 'Once \302\2332J upon' >"$d/c1-escape-prompt.txt"   # U+009B, the 8-bit CSI
# A byte-level BPE checkpoint with a stale three-piece tokenizer.model beside it ($4: ../shared/data).
if [ -n "${4:-}" ] && [ -d "$4/lm-buddy-fake_gpt2" ]; then
  mkdir -p "$d/stale-spm"
  cp "$4"/lm-buddy-fake_gpt2/* "$d/stale-spm/"
  cp "$d/tiny-spm.model" "$d/stale-spm/tokenizer.model"
fi
