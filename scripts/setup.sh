#!/usr/bin/env bash
# Installs the Debian bookworm packages ckpt builds with, skipping those already installed.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  g++ make cmake ninja-build pkg-config
  nlohmann-json3-dev libcli11-dev libfmt-dev zlib1g-dev libssl-dev
  libgtest-dev libbenchmark-dev
  libtorch-dev libgloo-dev   # the trainer (ckpt finetune): autograd, AdamW, c10d Gloo
  libopenblas0-openmp        # libtorch's BLAS: Debian's alternative replaces the reference BLAS (25x slower matmuls)
  clang libclang-rt-14-dev   # libFuzzer + sanitizers for the fuzz smoke runs
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
  "${sudo_cmd[@]}" apt-get update
  "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
