#!/usr/bin/env bash
# Train a prefix on the embedded E2E subset (data/e2e-small) with a tiny GPT-2
# that has random weights and the GPT-2 tokenizer cut to its first 1000 ids
# (tests/fixtures/gpt2-text, in the repository).
# A random model learns little, but the run exercises the whole pipeline:
# data -> WebGPU training -> metrics.jsonl, loss.svg, gates.svg -> <task>.prefix.zip.
#
# Usage: examples/train_e2e.sh [MODEL_DIR] [extra train flags...]
#   MODEL_DIR defaults to tests/fixtures/gpt2-text (any GPT-2 folder with
#   model.safetensors and tokenizer.json works). Extra flags override the ones
#   below, e.g. examples/train_e2e.sh --steps 5 --out runs/try.
#   Uses `deno` from PATH, or `npx -y deno@2.9.6` when there is none.
# --lr 5e-3 instead of the default 8e-5 (Li & Liang's rate, for 5 epochs of the
# full E2E set) so that 20 steps visibly move the loss and the gates.
# About a minute on a software GPU (llvmpipe); seconds on a real one.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=tests/fixtures/gpt2-text
if [[ $# -gt 0 && "$1" != -* ]]; then
  MODEL="$1"
  shift
fi
if [[ ! -e "$MODEL" ]]; then
  echo "missing $MODEL: pass a GPT-2 folder with tokenizer.json (e.g. tests/fixtures/gpt2-text)" >&2
  exit 1
fi
if command -v deno >/dev/null; then DENO=(deno); else DENO=(npx -y deno@2.9.6); fi
# The command prints where the bundle, metrics, plots and checkpoint went.
"${DENO[@]}" task train \
  --model "$MODEL" \
  --data data/e2e-small/train.csv \
  --steps 20 --batch 4 --max-len 118 --lr 5e-3 \
  --log-every 2 \
  --out runs/e2e-small \
  "$@"
