#!/usr/bin/env bash
# GPU check for machines with an NVIDIA GPU and the CUDA toolkit (nvcc):
# builds the llama.cpp backend with CUDA, offloads every layer of the default
# model, and prints constrained vs unconstrained tokens/s (and the
# fast-forward gain) from `sluicegate-bench generate`, then one
# `sluicegate generate` run with its stats. CI does not run this.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
command -v nvcc >/dev/null || { echo "nvcc not found: install the CUDA toolkit"; exit 1; }
./scripts/setup.sh

target=${CARGO_TARGET_DIR:-target-cuda}
CARGO_TARGET_DIR=$target cargo build --release -p sluicegate-cli -p sluicegate-bench --features sluicegate-llama/cuda

data=${MASKBENCH:-../shared/data/maskbench/dev.jsonl.gz}
"$target/release/sluicegate-bench" generate --data "$data" --n "${N:-20}" --stride 100 --max-tokens 128 --n-gpu-layers 999
"$target/release/sluicegate" generate --n-gpu-layers 999 --schema examples/news/schema.json --stats \
    --prompt "$(head -n 1 examples/news/news.jsonl)"
