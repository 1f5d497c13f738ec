#!/usr/bin/env bash
# scripts/smoke.sh — the main job until `vlmc train configs/shapes.yaml` lands:
# loads a tiny Hugging Face LLaVA checkpoint through the real import path,
# runs one forward + backward on the CPU backend and lists what it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD_DIR:-build}/vlmc
M=tests/golden/models/llava_clip_llama
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$B" --version
"$B" inspect "$M/hf" | sed -n 1,20p
"$B" inspect "$M/hf" --forward "$M/inputs.safetensors" --out "$out/forward.safetensors"
"$B" inspect "$out/forward.safetensors" | sed -n 1,12p
echo "smoke: ok"
