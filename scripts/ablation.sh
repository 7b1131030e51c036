#!/usr/bin/env bash
# Shortcut counter-measure ablation (model card, "Shortcut counter-measures: ablation").
# MobileNetV2 ImageNet transfer, 112 px, 3 epochs, seed 0, one thread; configs run one
# after the other (a run whose checkpoint already holds 3 epochs is skipped), then
# training.ablation evaluates them all by source into models/ablation.json.
#   usage: [BRAIN_MRI_CACHE=DIR] scripts/ablation.sh [RUNS_DIR] [CONFIG ...]
#   (RUNS_DIR: checkpoints, never in git; default ~/.cache/brain_mri_review/runs)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-$HOME/.cache/brain_mri_review/runs}; shift || true
configs=("$@"); [ ${#configs[@]} -gt 0 ] || configs=(full none balanced_only intensity_aug_only)
export OMP_NUM_THREADS=1
# the decoded-slice cache and the MobileNetV2 weights (python -m training.tflite_import)
cache=${BRAIN_MRI_CACHE:-$HOME/.cache/brain_mri_review/training}
declare -A flags=(
  [full]="--sampling balanced --intensity-aug"
  [none]="--sampling uniform --no-intensity-aug"
  [balanced_only]="--sampling balanced --no-intensity-aug"
  [intensity_aug_only]="--sampling uniform --intensity-aug"
)
done_epochs() {
  .venv/bin/python -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" \
    "$runs/ablation_$1/history.json" 2>/dev/null || echo 0
}
for cfg in "${configs[@]}"; do
  if [ "$(done_epochs "$cfg")" -ge 3 ]; then echo "skip $cfg (done)"; continue; fi
  # shellcheck disable=SC2086
  nice -n 5 .venv/bin/python -m training train --arch mobilenet_v2 --size 112 --epochs 3 \
    --init "$cache/mobilenet_v2_imagenet_torchvision_layout.pth" --lr 5e-4 --wd 0.01 \
    --seed 0 --cache-dir "$cache" --threads 1 --quiet ${flags[$cfg]} \
    --output-dir "$runs/ablation_$cfg" > "$runs/ablation_$cfg.log" 2>&1
done
args=()
for cfg in "${configs[@]}"; do args+=(--run "$cfg=$runs/ablation_$cfg"); done
nice -n 5 .venv/bin/python -m training.ablation "${args[@]}" --cache-dir "$cache" \
  --reference-init "$cache/mobilenet_v2_imagenet_torchvision_layout.pth" \
  --out models/ablation.json
