#!/usr/bin/env bash
# The GPU figures of issue 6 in one run, for a lent GPU machine (JAX, flax, optax, orbax; no
# TensorFlow, no ml-collections):
#
#   bash tools/bench/benchmark_gpu.sh OUT_DIR
#
# - fine-tuning step at the paper's batch 8x16x30 in float32 and bfloat16, with evaluation of all
#   5,500 SynthGait-B-sized test sequences at full length (float32 run only);
# - pretraining step at 8x16x30, float32.
# Writes the JSON files and a copy of docs/benchmarks.md with the new lines to OUT_DIR: the runs
# pass --append-docs, so this checkout's docs/benchmarks.md gets the lines too (run it in a
# throwaway copy, as on a lent machine, or commit them).
# Wheels carried in .whl/ (ml-collections; see docs/performance.md) are installed first
# (tools/lent_machine.sh).
set -euo pipefail
out=${1:?usage: bash tools/bench/benchmark_gpu.sh OUT_DIR}
mkdir -p "$out"
source tools/lent_machine.sh
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt" || true
python3 tools/bench/benchmark.py --out="$out/finetune_fp32.json" --stage=finetune --batch=8x16 \
  --steps=20 --skip-input --eval-sequences=5500 --append-docs
python3 tools/bench/benchmark.py --out="$out/finetune_bf16.json" --stage=finetune --batch=8x16 \
  --steps=20 --skip-input --skip-eval --dtype=bfloat16 --append-docs
python3 tools/bench/benchmark.py --out="$out/pretrain_fp32.json" --stage=pretrain --batch=8x16 \
  --steps=20 --skip-input --skip-eval --append-docs
cp docs/benchmarks.md "$out/benchmarks.md"
