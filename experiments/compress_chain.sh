#!/usr/bin/env bash
# The compression chain distill -> prune -> int8 on one teacher (docs/compression.md).
# usage: experiments/compress_chain.sh TEACHER_SPEC DATASET TARGETS OUT [DISTILL_EPOCHS] [PRUNE_RATIO] [RECOVERY_EPOCHS]
set -euo pipefail
teacher=$1 data=$2 targets=$3 out=$4 epochs=${5:-6} ratio=${6:-0.25} recovery=${7:-2}
sf() { seisforge "$@"; }
mkdir -p "$out"
sf compress "$teacher" --method distill --student PhaseNetLight --student-width 0.5 --epochs "$epochs" \
  --dataset "$data" --targets "$targets" --no-report --out "$out/distill"
sf compress "run:$out/distill" --method prune --ratio "$ratio" --epochs "$recovery" --dataset "$data" \
  --targets "$targets" --no-report --out "$out/distill_prune"
sf compress "run:$out/distill_prune" --method int8 --dataset "$data" --targets "$targets" --out "$out/distill_prune_int8"
sf compress "$teacher" --method int8 --dataset "$data" --targets "$targets" --out "$out/int8"
