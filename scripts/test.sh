#!/usr/bin/env bash
# scripts/test.sh — installs, builds and runs the whole test suite (CTest).
# Extra arguments go to ctest (e.g. -L unit, -R tok).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"$(nproc)" --timeout 600 "$@"
