#!/usr/bin/env bash
# scripts/setup.sh — one-time set-up on Debian 12 (as root): installs the
# Debian packages vlmc needs (idempotent, quiet) and builds into build/.
#   bash scripts/setup.sh                 # install + build (CUDA if nvcc exists)
#   BUILD_DIR=build-san CMAKE_ARGS="-DVLMC_SANITIZE=ON -DVLMC_CUDA=OFF" bash scripts/setup.sh
#   SKIP_BUILD=1 bash scripts/setup.sh    # packages only
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(cmake make gcc clang pkg-config
      libopenblas-openmp-dev libomp-dev
      libjansson-dev libyaml-dev libhdf5-dev libarchive-dev
      libjpeg62-turbo-dev libpng-dev libwebp-dev libpcre2-dev libutf8proc-dev
      libsqlite3-dev libopenmpi-dev openmpi-bin zlib1g-dev xz-utils)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -n "${SKIP_BUILD:-}" ] && exit 0

# nvcc is not on PATH by default on Debian's CUDA layout
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi

BUILD_DIR=${BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >"$BUILD_DIR.configure.log" 2>&1 \
  || { cat "$BUILD_DIR.configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j"$(nproc)" 2>&1 | grep -Ev '^\[ *[0-9]+%\]' || true
test -x "$BUILD_DIR/vlmc" || { echo "setup: build failed"; exit 1; }
echo "setup: built $BUILD_DIR/vlmc"
