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

# CUDA: with CKPT_SETUP_CUDA=1 (scripts/test.sh sets it, so CI compiles the CUDA kernels) and no nvcc
# yet, Debian's nvidia-cuda-toolkit (11.8) from bookworm's non-free component, enabled for it. Best
# effort: without it the kernels are not compiled and their tests skip, saying so.
setup_cuda() {
  command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] && return 0
  local src=/etc/apt/sources.list.d/ckpt-debian-non-free.sources
  local sudo_cmd=()
  [ "$(id -u)" != 0 ] && { command -v sudo >/dev/null || return 0; sudo_cmd=(sudo); }
  if [ ! -f "$src" ]; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: contrib non-free non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
      "${sudo_cmd[@]}" tee "$src" >/dev/null
  fi
  echo "setup: installing nvidia-cuda-toolkit (non-free) to compile the CUDA kernels"
  if ! { "${sudo_cmd[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit >/dev/null; }; then
    echo "setup: nvidia-cuda-toolkit could not be installed; CUDA kernels will not be compiled (their tests skip)" >&2
  fi
  return 0
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  [ "${CKPT_SETUP_CUDA:-0}" = 1 ] && setup_cuda
  exit 0
fi

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
[ "${CKPT_SETUP_CUDA:-0}" = 1 ] && setup_cuda
exit 0
