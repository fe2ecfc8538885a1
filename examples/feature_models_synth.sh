#!/usr/bin/env bash
# End to end vs frozen features on the synthetic benchmark: the comparison table of
# docs/feature_models.md. For each seed: train the tiny end-to-end model, extract the pooled features
# of a random backbone and of the trained model's backbone, fit frozen_r2plus1d (the head alone),
# devise, eszsl and conse on each, evaluate everything, then tabulate. About 5 minutes on 2 CPU cores.
#
#   examples/feature_models_synth.sh [WORKDIR] [SEEDS...]
set -euo pipefail
work=${1:-synth-feature-models}
shift || true
seeds=${*:-0 1 2}
mkdir -p "$work"
cd "$work"
for seed in $seeds; do
  data=data$seed
  proto=(--protocol "$data/synth.yaml")
  [ -d "$data" ] || zslbench synth "$data" --seed "$seed" >/dev/null
  [ -f "runs/e2e$seed/checkpoint.pt" ] ||
    zslbench train --model e2e_r2plus1d --width 0.25 "${proto[@]}" --data "synth-source=$data/source.csv" \
      --out "runs/e2e$seed" >/dev/null
  zslbench eval --weights "runs/e2e$seed" --data "synth-target=$data/target.csv" --name e2e-tiny >/dev/null
  for backbone in random tiny-e2e; do
    init=()
    [ "$backbone" = tiny-e2e ] && init=(--init "runs/e2e$seed")
    for part in source target; do
      zslbench extract --backbone r2plus1d_18 --width 0.25 "${init[@]}" "${proto[@]}" \
        --data "synth-$part=$data/$part.csv" --out "features/$backbone$seed-$part.npz" >/dev/null
    done
    for model in frozen_r2plus1d devise eszsl conse; do
      run="runs/$model-$backbone$seed"
      rm -rf "$run"
      zslbench train --model "$model" --features "features/$backbone$seed-source.npz" "${proto[@]}" --out "$run" >/dev/null
      zslbench eval --weights "$run" --data "synth-target=features/$backbone$seed-target.npz" \
        --name "$model-on-$backbone" >/dev/null
    done
  done
done
zslbench table results --metric top1
