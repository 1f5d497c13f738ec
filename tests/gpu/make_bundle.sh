#!/usr/bin/env bash
# tests/gpu/make_bundle.sh — packs what tests/gpu/run.sh needs on a GPU machine
# that has the CUDA libraries but no package manager:
#   bin/  vlmc, gpu_parity, bench_ops, test_op_coverage, test_cuda_backend, bench_ops.py
#   lib/  every shared library those binaries load (from ldd), EXCEPT the CUDA
#         stack (libcuda, cudart, cublas/cublasLt, cudnn, nccl: the GPU machine has
#         them from its toolkit or PyTorch's nvidia packages) and glibc itself.
# Output: .bundle/vlmc-gpu.tar.xz (git-ignored).
# usage: tests/gpu/make_bundle.sh [BUILD_DIR]   (default: build, configured with VLMC_CUDA=ON)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
out=$root/.bundle
bins=("$build/vlmc" "$build/tests/gpu/gpu_parity" "$build/tests/gpu/bench_ops" "$build/tests/test_op_coverage" "$build/tests/test_cuda_backend")
for b in "${bins[@]}"; do
  [ -x "$b" ] || { echo "make_bundle: $b missing: build with -DVLMC_CUDA=ON first (cmake --build $build)" >&2; exit 1; }
done
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$out"
cp "${bins[@]}" "$stage/bin/"
cp "$root/tests/gpu/bench_ops.py" "$stage/bin/"
# the CUDA stack and glibc stay with the target machine
skip='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libutil|libcuda|libcudart|libcublas|libcublasLt|libcudnn[a-z_]*|libnccl|libnvidia-[a-z-]*|libnvrtc|libnvJitLink)\.so'
for b in "${bins[@]}"; do
  # "soname => /path (addr)": copy the resolved file under its soname
  ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r soname path; do
  if [[ $soname =~ $skip ]]; then continue; fi
  cp -L "$path" "$stage/lib/$soname"
done
git -C "$root" rev-parse HEAD > "$stage/COMMIT" 2>/dev/null || echo unknown > "$stage/COMMIT"
tar -C "$stage" -cJf "$out/vlmc-gpu.tar.xz" .
echo "make_bundle: $out/vlmc-gpu.tar.xz ($(du -h "$out/vlmc-gpu.tar.xz" | cut -f1)); libraries:"
ls "$stage/lib" | tr '\n' ' '
echo
