#!/usr/bin/env bash
# The label-efficiency study of docs/experiments/label_efficiency.md, as prioritised shards of
#   seisforge bench label-efficiency CONFIG --out DIR --set fractions=[..] --set only_arms=[..]
# Every cell resumes (finished cells are skipped, cells live in another process are left to it), so a shard
# can be stopped and restarted at any time. Steps skip the summary (summary=false); `summary` writes the
# tables, figures and arm-vs-arm comparisons of every finished cell (experiments/label_efficiency_report.py).
# Usage: experiments/label_efficiency.sh synth_main|synth_methods|synth_extra|ncedc|ncedc_methods|summary
# Assumes the data and pretrain runs of the configs' header comments exist (runs/le/..., runs/data/ncedc).
set -euo pipefail
SF=${SEISFORGE:-seisforge}
SYN=configs/label_efficiency_synthetic.yaml
NC=configs/label_efficiency_ncedc.yaml
steps() {  # steps CONFIG OUT "FRACTIONS ARMS" ...: one grid call per step, in this (priority) order
  local cfg=$1 out=$2; shift 2
  for s in "$@"; do
    $SF bench label-efficiency "$cfg" --out "$out" --set "fractions=${s% *}" --set "only_arms=${s#* }" \
      --set summary=false
  done
}
case "${1:-}" in
  synth_main)  # question 1 and target 1: scratch and SSL-MAE full at every fraction, then ETHZ
    steps $SYN runs/le/grid_synth "[0.1] [scratch,ssl_full,ethz_full,ethz_lora,stalta]" \
      "[1.0] [scratch,ssl_full]" "[0.01] [scratch,ssl_full]" "[0.05] [scratch,ssl_full]" \
      "[0.25] [scratch,ssl_full]" "[1.0] [ethz_full,ethz_lora]" "[0.01,0.05,0.25] [ethz_full,ethz_lora]" ;;
  synth_methods)  # every method at 10 %, most informative first; then the frozen-base arms at other fractions
    steps $SYN runs/le/grid_synth "[0.1] [ssl_lora]" "[0.1] [sslc_full]" "[0.1] [ssl_partial]" \
      "[0.1] [ethz_ia3]" "[0.1] [ethz_bitfit]" "[0.1] [ethz_linear_probe]" "[0.1] [ssl_linear_probe]" \
      "[0.1] [ssl_ia3,ssl_bitfit,ssl_dora,ssl_adapter,sslc_lora,sslc_partial]" \
      "[1.0,0.01,0.05,0.25] [ssl_lora,ssl_linear_probe,ethz_linear_probe,sslc_full]" ;;
  synth_extra)  # a fourth shard when the machine has room: the contrastive arm's curve, then ETHZ/SSL frozen arms
    steps $SYN runs/le/grid_synth "[1.0,0.01,0.05,0.25] [sslc_full]" \
      "[1.0] [ssl_lora,ssl_linear_probe,ethz_linear_probe]" "[0.1,0.01,0.05,0.25,1.0] [sslcs_full]" ;;
  ncedc)
    steps $NC runs/le/grid_ncedc "[0.1] [scratch,ssl_full,ethz_full,ethz_lora,stalta]" \
      "[1.0] [scratch,ssl_full,ethz_full,ethz_lora]" "[0.1] [sslc_full,ssl_lora,ssl_partial,ethz_linear_probe]" \
      "[0.25,0.05,0.01] [scratch,ssl_full,ethz_full,ethz_lora]" ;;
  ncedc_methods)  # every other method at 10 %, then the remaining main arms at every fraction
    steps $NC runs/le/grid_ncedc "[0.1] [ssl_linear_probe,ethz_ia3,ethz_bitfit,ssl_ia3,ssl_bitfit,ssl_dora,ssl_adapter,sslc_lora,sslc_partial]" \
      "[1.0,0.25,0.05,0.01] [sslc_full,ssl_lora,ssl_linear_probe,ethz_linear_probe]" ;;
  summary)  # tables, figures and comparisons over every finished cell
    PY=${PYTHON:-python}
    PAIRS="ethz_full:ethz_lora ethz_full:ethz_ia3 ethz_full:ethz_bitfit ethz_full:ethz_linear_probe ssl_full:ssl_lora ssl_full:ssl_partial ssl_full:sslc_full scratch:sslc_full scratch:ssl_partial scratch:sslcs_full sslc_full:sslcs_full"
    $PY experiments/label_efficiency_report.py $SYN runs/le/grid_synth --pairs $PAIRS
    $PY experiments/label_efficiency_report.py $NC runs/le/grid_ncedc --pairs $PAIRS ;;
  *) echo "usage: $0 synth_main|synth_methods|synth_extra|ncedc|ncedc_methods|summary" >&2; exit 2 ;;
esac
