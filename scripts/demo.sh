#!/usr/bin/env bash
# The main job on the shipped sample model: set up, build, inspect the tiny Llama checkpoint, convert
# it to GGUF (f16 and q8_0), quantize it (Q4_K_M GGUF, bitsandbytes NF4 with double quantization) and
# convert back to HF. (generate joins this script when the runtime lands.)
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
echo "== ckpt convert samples/tiny-llama -o $out/tiny-llama-f32.gguf --outtype f32"
"$ckpt" convert samples/tiny-llama -o "$out/tiny-llama-f32.gguf" --outtype f32
echo "== ckpt quantize $out/tiny-llama-f32.gguf -o $out/tiny-llama-q4_k_m.gguf --type Q4_K_M --stats"
"$ckpt" quantize "$out/tiny-llama-f32.gguf" -o "$out/tiny-llama-q4_k_m.gguf" --type Q4_K_M --stats
echo "== ckpt quantize samples/tiny-llama -o $out/tiny-llama-nf4 --type nf4-dq"
"$ckpt" quantize samples/tiny-llama -o "$out/tiny-llama-nf4" --type nf4-dq
echo "== ckpt convert $out/tiny-llama-nf4 -o $out/tiny-llama-from-nf4.gguf (bnb 4-bit in, dequantized on the fly)"
"$ckpt" convert "$out/tiny-llama-nf4" -o "$out/tiny-llama-from-nf4.gguf"
