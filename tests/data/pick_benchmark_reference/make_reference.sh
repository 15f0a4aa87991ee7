#!/bin/bash
# Regenerates tests/data/pick_benchmark_reference/ from the official generate_eval_targets.py.
set -e
WT=${WT:-/work/wt/interop}; PY=${PY:-/work/main/.venv/bin/python}; PB=${PB:-/tmp/interop_ref/pb}
REF=$WT/tests/data/pick_benchmark_reference; TMP=$(mktemp -d)
PYTHONPATH=$WT/tests:$WT/src $PY -c "
import sys; from pathlib import Path; import pandas as pd
from helpers import label_table_dataset
label_table_dataset(Path('$TMP/edge'))
t = pd.read_csv('$REF/random_labels.csv')
label_table_dataset(Path('$TMP/random'), list(t.itertuples(index=False, name=None)))"
cd $PB
$PY generate_eval_targets.py $TMP/edge $REF/edge_100hz
$PY generate_eval_targets.py $TMP/random $REF/random_100hz
$PY generate_eval_targets.py $TMP/random $REF/random_50hz --sampling_rate 50
$PY generate_eval_targets.py $TMP/random $REF/random_100hz_no_noise_before --no_noise_before_events
rm -rf $TMP
