#!/usr/bin/env bash
# tests/gpu/run.sh — the GPU test tiers, run from the prebuilt bundle
# (tests/gpu/make_bundle.sh) on a machine with CUDA libraries but no package
# manager.
#   smoke  (<= 2 min): device query (vlmc --version), op coverage, a few ops vs CPU
#   full   (<= 6 min): every op vs CPU in fp32 and bf16, plus
#                      compute-sanitizer --tool memcheck over a small run (skipped
#                      with a message where the tool is absent or refuses the device),
#                      plus the trainer: 70 steps of configs/shapes.yaml on cpu and
#                      on cuda, losses compared step by step
#   bench            : tests/gpu/bench_ops, and PyTorch's same ops when torch is there
# Logs: one file per step in $LOG_DIR (default ./gpu-logs); a summary at the end.
# Exit status: 0 when every step that ran passed.
# usage: LOG_DIR=/path tests/gpu/run.sh smoke|full|bench
set -uo pipefail
tier=${1:-smoke}
case $tier in smoke|full|bench) ;; *) echo "usage: $0 smoke|full|bench" >&2; exit 2;; esac
root=$(cd "$(dirname "$0")/../.." && pwd)
LOG_DIR=${LOG_DIR:-$PWD/gpu-logs}
mkdir -p "$LOG_DIR"
bundle=${BUNDLE:-$root/.bundle/vlmc-gpu.tar.xz}
[ -f "$bundle" ] || { echo "run.sh: no bundle at $bundle (make it with tests/gpu/make_bundle.sh)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xJf "$bundle" || { echo "run.sh: cannot unpack $bundle" >&2; exit 2; }
bin=$work/bin

# CUDA libraries: the toolkit, then PyTorch's nvidia wheels in any python's site-packages
libdirs=("$work/lib")
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/extras/CUPTI/lib64; do
  [ -d "$d" ] && libdirs+=("$d")
done
for py in python3 python; do
  command -v "$py" >/dev/null 2>&1 || continue
  while read -r sp; do
    for d in "$sp"/nvidia/*/lib; do [ -d "$d" ] && libdirs+=("$d"); done
  done < <("$py" -c 'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null)
done
LD_LIBRARY_PATH=$(IFS=:; echo "${libdirs[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
export VLMC_SOURCE_DIR=$root

echo "== bundle $(cat "$work/COMMIT" 2>/dev/null), tier $tier, logs in $LOG_DIR"
echo "== LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
ldd "$bin/vlmc" | tee "$LOG_DIR/ldd.txt"
if grep -q "not found" "$LOG_DIR/ldd.txt"; then
  echo "run.sh: libraries missing (above): the machine's CUDA must provide CUDA 13 sonames (libcudart.so.13, libcublas.so.13, libcudnn.so.9, libnccl.so.2)" >&2
  exit 3
fi
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi > "$LOG_DIR/nvidia-smi.txt" 2>&1

declare -a summary=()
fails=0
# step NAME TIMEOUT_S CMD...: runs CMD with a timeout, logs, records PASS/FAIL/SKIP
step() {
  local name=$1 limit=$2; shift 2
  local log="$LOG_DIR/$name.log" t0=$SECONDS rc
  echo "== $name: $*"
  timeout "$limit" "$@" > "$log" 2>&1
  rc=$?
  tail -n 40 "$log"
  if [ $rc -eq 0 ]; then summary+=("PASS $name ($((SECONDS - t0)) s)")
  elif [ $rc -eq 77 ]; then summary+=("SKIP $name: no device (see $log)")
  else
    [ $rc -eq 124 ] && echo "$name: timed out after $limit s" | tee -a "$log"
    summary+=("FAIL $name (rc $rc, $((SECONDS - t0)) s, $log)"); fails=$((fails + 1))
  fi
  return $rc
}

smoke() {
  step version 30 "$bin/vlmc" --version
  grep -q "devices: none" "$LOG_DIR/version.log" && { echo "run.sh: vlmc sees no GPU" >&2; summary+=("FAIL device query: no GPU"); fails=$((fails + 1)); }
  step op_coverage 30 "$bin/test_op_coverage"
  step cuda_backend 30 "$bin/test_cuda_backend"
  step parity_smoke 60 "$bin/gpu_parity" --quick --only matmul,rmsnorm,act,xent,attention,gather_rows_backward
}

memcheck() {
  local cs
  cs=$(command -v compute-sanitizer || true)
  [ -z "$cs" ] && [ -x /usr/local/cuda/bin/compute-sanitizer ] && cs=/usr/local/cuda/bin/compute-sanitizer
  if [ -z "$cs" ]; then summary+=("SKIP memcheck: compute-sanitizer not found"); echo "memcheck skipped: compute-sanitizer not found"; return; fi
  local log="$LOG_DIR/memcheck.log" rc
  echo "== memcheck: $cs --tool memcheck gpu_parity --quick --mode bf16"
  timeout 150 "$cs" --tool memcheck --error-exitcode 9 "$bin/gpu_parity" --quick --mode bf16 > "$log" 2>&1
  rc=$?
  tail -n 20 "$log"
  if [ $rc -eq 0 ]; then summary+=("PASS memcheck ($(grep -o 'ERROR SUMMARY: [0-9]* errors' "$log" | tail -1))")
  elif [ $rc -ne 9 ] && grep -qiE "not supported|unable to|permission|refused|ERR_NVGPUCTRPERM|Could not" "$log"; then
    summary+=("SKIP memcheck: the tool refused this device (see $log)")
  else summary+=("FAIL memcheck (rc $rc, $log)"); fails=$((fails + 1)); fi
}

bench() {
  step bench_ops 300 "$bin/bench_ops"
  local py=""
  for p in python3 python; do command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null && { py=$p; break; }; done
  if [ -z "$py" ]; then summary+=("SKIP bench_torch: no python with CUDA torch"); return; fi
  step bench_torch 300 "$py" "$bin/bench_ops.py"
  # ratio: PyTorch time / vlmc time per op (> 1: vlmc faster)
  awk '$1 == "RESULT" {t[FILENAME, $2] = $3; ops[$2] = 1}
       END {printf "%-22s %10s %10s %8s\n", "op", "vlmc ms", "torch ms", "torch/vlmc";
            for (o in ops) if ((ARGV[1], o) in t && (ARGV[2], o) in t)
              printf "%-22s %10.3f %10.3f %8.2f\n", o, t[ARGV[1], o], t[ARGV[2], o], t[ARGV[2], o] / t[ARGV[1], o]}' \
      "$LOG_DIR/bench_ops.log" "$LOG_DIR/bench_torch.log" | tee "$LOG_DIR/bench_ratio.txt"
}

# The trainer on the GPU: the default recipe cut to a few steps per stage,
# once on cpu and once on cuda (bf16 activations), from the same seed; the
# losses must agree step by step within bf16's reach (first step 2 %, every
# step 10 %; the trajectories drift apart slowly), and the shapes eval (the
# generator) must run.
train_cuda() {
  local d=$work/train args
  cd "$root" || return
  args=(stages.0.steps=30 stages.1.steps=5 stages.2.steps=30 stages.3.steps=5 shapes.dir=$d/data shapes.eval=2)
  step train_cpu 180 "$bin/vlmc" train configs/shapes.yaml "${args[@]}" --out "$d/cpu" || return
  step train_cuda 180 "$bin/vlmc" train configs/shapes.yaml backend=cuda "${args[@]}" --out "$d/cuda" || return
  local log="$LOG_DIR/train_compare.log"
  paste <(grep -o '"loss":[^,]*' "$d/cpu/metrics.jsonl" | cut -d: -f2) \
        <(grep -o '"loss":[^,]*' "$d/cuda/metrics.jsonl" | cut -d: -f2) |
    awk '{n++; r = ($2 - $1) / ($1 > 0 ? $1 : 1); if (r < 0) r = -r; if (r > m) m = r;
          if (n == 1) first = r; printf "step %d cpu %.6f cuda %.6f rel %.2e\n", n, $1, $2, r}
         END {printf "steps %d, first-step rel %.2e, max rel %.2e\n", n, first, m;
              exit !(n == 70 && first <= 0.02 && m <= 0.10)}' > "$log"
  local rc=$?
  tail -n 3 "$log"
  if [ $rc -eq 0 ]; then summary+=("PASS train_compare ($(tail -n 1 "$log"))")
  else summary+=("FAIL train_compare ($log)"); fails=$((fails + 1)); fi
}

case $tier in
  smoke) smoke ;;
  full) smoke; step parity_full 240 "$bin/gpu_parity" --mode both; memcheck; train_cuda ;;
  bench) bench ;;
esac
echo "== summary ($tier)"
printf '%s\n' "${summary[@]}" | tee "$LOG_DIR/summary.txt"
exit $((fails > 0))
