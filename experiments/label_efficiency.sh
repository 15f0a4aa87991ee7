#!/usr/bin/env bash
# The label-efficiency study of docs/experiments/label_efficiency.md, as prioritised shards of
#   seisforge bench label-efficiency CONFIG --out DIR
# Every cell resumes (finished cells are skipped, cells live in another process are left to it), so a shard
# can be stopped and restarted at any time; each step writes the table and figures of what has finished.
# Usage: experiments/label_efficiency.sh synth_main|synth_methods|ncedc|summary
# Assumes the data and pretrain runs of the configs' header comments exist (runs/le/..., runs/data/ncedc).
set -euo pipefail
SF=${SEISFORGE:-seisforge}
SYN=configs/label_efficiency_synthetic.yaml
NC=configs/label_efficiency_ncedc.yaml
step() {  # step CONFIG OUT FRACTIONS ARMS
  $SF bench label-efficiency "$1" --out "$2" --set "fractions=$3" --set "only_arms=$4"
}
MAIN="[scratch,ssl_full,ethz_full,ethz_lora,stalta]"
case "${1:-}" in
  synth_main)   # the main arms, 10 % and 100 % first, then the small fractions
    for f in "[0.1]" "[1.0]" "[0.01]" "[0.05]" "[0.25]"; do step $SYN runs/le/grid_synth "$f" "$MAIN"; done ;;
  synth_methods)  # every method at 10 %, then the frozen-base arms at the other fractions
    step $SYN runs/le/grid_synth "[0.1]" "[sslc_full,ssl_lora,ssl_linear_probe,ssl_partial,ethz_linear_probe,sslc_partial,ssl_bitfit,ssl_ia3,ethz_ia3,ethz_bitfit,ssl_dora,ssl_adapter,sslc_lora]"
    for f in "[1.0]" "[0.01]" "[0.05]" "[0.25]"; do
      step $SYN runs/le/grid_synth "$f" "[ssl_lora,ssl_linear_probe,ethz_linear_probe,sslc_full,ssl_partial]"; done ;;
  ncedc)
    step $NC runs/le/grid_ncedc "[0.1]" "$MAIN"
    step $NC runs/le/grid_ncedc "[1.0]" "$MAIN"
    step $NC runs/le/grid_ncedc "[0.1]" "[sslc_full,ssl_lora,ssl_linear_probe,ssl_partial,ethz_linear_probe]"
    for f in "[0.25]" "[0.05]" "[0.01]"; do step $NC runs/le/grid_ncedc "$f" "$MAIN"; done ;;
  summary)  # tables and figures over every finished cell (runs nothing new that is finished)
    $SF bench label-efficiency $SYN --out runs/le/grid_synth --set "only_arms=[stalta]"
    $SF bench label-efficiency $NC --out runs/le/grid_ncedc --set "only_arms=[stalta]" ;;
  *) echo "usage: $0 synth_main|synth_methods|ncedc|summary" >&2; exit 2 ;;
esac
