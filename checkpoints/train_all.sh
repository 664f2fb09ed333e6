#!/usr/bin/env bash
# Re-trains every shipped checkpoint with the project's own CLI, then scores each one with
# `python -m explorer evaluate --iw-samples 1000 --json --save-metrics` into checkpoints/cards/<name>.json
# (the metrics also go into the checkpoint, so the app shows the same numbers).
# Usage: bash checkpoints/train_all.sh [name ...]   (data: --data-dir, $EXPLORER_DATA_DIR or the cache)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p checkpoints/cards

declare -A RECIPES=(
  [mnist-mlp-z2]="--dataset mnist --arch mlp --hidden 512,256 --latent-dim 2 --epochs 60"
  [digits-mlp-z2]="--dataset digits --arch mlp --hidden 256,128 --latent-dim 2 --epochs 100 --batch-size 32"
  [mnist-conv-z2]="--dataset mnist --arch conv --hidden 16,32 --dense 256 --latent-dim 2 --epochs 30"
  [fashion-mnist-mlp-z2]="--dataset fashion-mnist --arch mlp --hidden 512,256 --latent-dim 2 --epochs 60"
  [mnist-mlp-z5]="--dataset mnist --arch mlp --hidden 512,256 --latent-dim 5 --epochs 60"
  [mnist-mlp-z10]="--dataset mnist --arch mlp --hidden 512,256 --latent-dim 10 --epochs 60"
  [mnist-mlp-z20]="--dataset mnist --arch mlp --hidden 512,256 --latent-dim 20 --epochs 60"
  [mnist-mlp-z2-ae]="--dataset mnist --arch mlp --hidden 512,256 --latent-dim 2 --epochs 60 --beta 0"
)
ORDER=(mnist-mlp-z2 digits-mlp-z2 fashion-mnist-mlp-z2 mnist-mlp-z5 mnist-mlp-z10 mnist-mlp-z20 mnist-mlp-z2-ae mnist-conv-z2)
if [ $# -gt 0 ]; then names=("$@"); else names=("${ORDER[@]}"); fi

for name in "${names[@]}"; do
  args=${RECIPES[$name]}
  echo "== $name: python -m explorer train $args --compact --iw-samples 0 --out checkpoints/$name.pt"
  python -m explorer train $args --compact --iw-samples 0 --out "checkpoints/$name.pt" 2>"checkpoints/cards/$name.log"
  python -m explorer evaluate "checkpoints/$name.pt" --iw-samples 1000 --json --save-metrics > "checkpoints/cards/$name.json"
  cat "checkpoints/cards/$name.json"
done
