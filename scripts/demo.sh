#!/usr/bin/env bash
# The main job on the shipped sample model: set up, build, then inspect the tiny Llama checkpoint.
# (convert -> quantize -> generate join this script as those commands land.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
ckpt=build/inspect/ckpt
echo "== ckpt inspect samples/tiny-llama"
"$ckpt" inspect samples/tiny-llama
