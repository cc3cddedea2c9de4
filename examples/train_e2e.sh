#!/usr/bin/env bash
# Train a prefix on the embedded E2E subset (data/e2e-small) with a tiny GPT-2
# that has random weights and the real GPT-2 tokenizer (../shared/fixtures/gpt2-tok).
# A random model learns little, but the run exercises the whole pipeline:
# data -> WebGPU training -> metrics.jsonl, loss.svg, gates.svg -> <task>.prefix.zip.
#
# Usage: examples/train_e2e.sh [MODEL_DIR] [extra train flags...]
#   MODEL_DIR defaults to ../shared/fixtures/gpt2-tok (any GPT-2 folder with
#   model.safetensors and tokenizer.json works).
# --lr 5e-3 instead of the default 8e-5 (Li & Liang's rate, for 5 epochs of the
# full E2E set) so that 20 steps visibly move the loss and the gates.
# About a minute on a software GPU (llvmpipe); seconds on a real one.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-../shared/fixtures/gpt2-tok}"
shift || true
deno task train \
  --model "$MODEL" \
  --data data/e2e-small/train.csv \
  --eval data/e2e-small/dev.csv \
  --steps 20 --batch 4 --max-len 64 --lr 5e-3 \
  --log-every 2 --eval-every 10 \
  --out runs/e2e-small \
  "$@"
echo "plots: runs/e2e-small/loss.svg runs/e2e-small/gates.svg"
