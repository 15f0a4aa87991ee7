"""Do calibrated predictions make the same decisions as the raw ones at the dev-tuned thresholds?

Usage: ``python experiments/calibration_decisions.py RAW_PRED_DIR CALIBRATED_PRED_DIR [...]`` (scored folders
of ``bench predict`` / ``bench predict --calibrated`` on the same targets).

For every dev and test window it compares the decision of the raw folder at its own dev-tuned thresholds
(``metrics.json``: ``P/S_pick_threshold``, ``x_prob >= thr``; ``det_threshold``, ``score_detection > thr``,
as ``bench score`` decides) with that of each calibrated folder at *its* dev-tuned thresholds, and checks
that the onsets are identical. Printed per split, task file and target as ``same/total``. Used for
``docs/experiments/calibration.md`` (issue 17: a monotone map must not change which windows are picked).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.bench.picking import metrics as M

TARGETS = {"task23": ("P", "S"), "task1": ("P", "S", "det")}


def decisions(df: pd.DataFrame, thresholds: dict, target: str) -> np.ndarray:
    """The window decisions ``bench score`` makes for one target at the folder's dev-tuned threshold."""
    if target == "det":
        return df["score_detection"].to_numpy(float) > thresholds["det_threshold"]
    return M.phase_probabilities(df, target) >= thresholds[f"{target}_pick_threshold"]


def compare(raw: Path, cal: Path) -> dict[str, str]:
    """``{split/task/target: "same/total"}``; raises when the folders hold other windows or other onsets."""
    thr = {d: json.loads((d / "metrics.json").read_text())["thresholds"] for d in (raw, cal)}
    out = {}
    for split in ("dev", "test"):
        for task, targets in TARGETS.items():
            a, b = (pd.read_csv(d / f"{split}_{task}.csv") for d in (raw, cal))
            for col in ("trace_name", "start_sample", "p_sample_pred", "s_sample_pred"):
                if not a[col].equals(b[col]):
                    raise SystemExit(f"{split}_{task}.csv: column {col} differs between {raw} and {cal}")
            for target in targets:
                same = decisions(a, thr[raw], target) == decisions(b, thr[cal], target)
                out[f"{split}/{task}/{target}"] = f"{int(same.sum())}/{len(same)}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("raw", type=Path)
    ap.add_argument("calibrated", type=Path, nargs="+")
    args = ap.parse_args()
    for cal in args.calibrated:
        print(cal.name, json.dumps(compare(args.raw, cal)))


if __name__ == "__main__":
    main()
