#!/usr/bin/env bash
# The main job on the shipped sample model: set up, build, inspect the tiny Llama checkpoint, convert
# it to GGUF (f16 and q8_0) and back to HF. (quantize -> generate join this script as they land.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
ckpt=build/inspect/ckpt
echo "== ckpt inspect samples/tiny-llama"
"$ckpt" inspect samples/tiny-llama
out=build/demo
mkdir -p "$out"
echo "== ckpt convert samples/tiny-llama -o $out/tiny-llama-f16.gguf"
"$ckpt" convert samples/tiny-llama -o "$out/tiny-llama-f16.gguf"
echo "== ckpt convert samples/tiny-llama -o $out/tiny-llama-q8_0.gguf --outtype q8_0"
"$ckpt" convert samples/tiny-llama -o "$out/tiny-llama-q8_0.gguf" --outtype q8_0
echo "== ckpt inspect $out/tiny-llama-q8_0.gguf"
"$ckpt" inspect "$out/tiny-llama-q8_0.gguf"
echo "== ckpt convert $out/tiny-llama-f16.gguf --to hf -o $out/tiny-llama-hf"
"$ckpt" convert "$out/tiny-llama-f16.gguf" --to hf -o "$out/tiny-llama-hf"
