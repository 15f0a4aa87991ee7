#!/usr/bin/env bash
# Distillation on continuous data (docs/compression.md, "Distillation, third round"): synthetic continuous
# train and dev days (seeds that the compression report's test day, seed 0, and noise stretch, seed 1, never
# use), unlabelled windows, a student trained with teacher soft targets only and the peak-position KD terms,
# selected and thresholded on the dev day, then the report on the test day.
# usage: experiments/distill_continuous.sh TEACHER_SPEC STUDENT_SPEC WIDTH DATASET TARGETS OUT [EPOCHS] [LR]
# (fine-tuning a trained student: run:DIR 1.0 ... 40 0.002; a fresh one: PhaseNet 0.48 ... 200 0.01)
set -euo pipefail
teacher=$1 student=$2 width=$3 data=$4 targets=$5 out=$6 epochs=${7:-40} lr=${8:-0.002}
mkdir -p "$out"
python - "$out" <<'PY'
import sys
from seisforge.testing import write_continuous
out = sys.argv[1]
# stream seeds base + 1000 * day + station + 1: 20001-20004, 21001-21004 (train), 30001 (dev)
write_continuous(f"{out}/days_train", ["XX.T01.00", "XX.T02.00", "XX.T03.00", "XX.T04.00"],
                 ["2025-03-01", "2025-03-02"], duration_s=43200.0, n_events_per_day=240, seed=20000)
write_continuous(f"{out}/days_dev", ["XX.D01.00"], ["2025-04-01"], duration_s=8 * 3600.0,
                 n_events_per_day=160, seed=30000)
PY
seisforge data windows "$out/days_train/waveforms" --out "$out/win_train" --window-samples 6000 --dev-fraction 0.02
OMP_NUM_THREADS=1 seisforge compress "$teacher" --method distill --student "$student" --student-width "$width" --dataset "$out/win_train" \
  --kd-alpha 1 --kd-temperature 1 --epochs "$epochs" --dev-day "$out/days_dev/waveforms" \
  --set train.steps_per_epoch=150 --set train.patience=15 --set augment.pick_window_prob=0 \
  --set augment.noise_prob=0 --set optim.lr="$lr" --set optim.warmup_steps=20 \
  --set loss.kd.slope_weight=20 --set loss.kd.l2_weight=10 --no-report --out "$out/student"
OMP_NUM_THREADS=1 seisforge bench compression "$out/student" --base "$teacher" --dataset "$data" --targets "$targets" \
  --station-hours 12 --noise-hours 1 --repeats 3 --out "$out/report"
