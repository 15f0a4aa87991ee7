"""Pick agreement with the teacher on a continuous **dev** day: student model selection and thresholds.

The distillation target is agreement with the teacher's picks on continuous data (F1 at 0.1 s, each
model at its own card thresholds). Dev *windows* do not show what a continuous day does (triggers on
codas and between events, arrivals at window edges, the engine's stacking of overlapping windows), so a
distillation given ``--dev-day`` (miniSEED/SAC files of continuous station-days that neither training
nor the report's test day use) measures that agreement on it, through the pick engine
(:class:`seisforge.deploy.engine.FastPicker`, torch float32, the same windowing, stacking and triggers as
``seisforge pick``):

- the teacher's picks at its card thresholds are computed once;
- per epoch, the student's curves are computed once and triggered at every threshold of a grid; per phase
  the F1-optimal threshold gives that phase's agreement F1; ``dev_day_disagreement`` = 1 - the mean of
  the P and S F1 is the selection metric (lower is better) of the training loop;
- after training, the selected student's card thresholds are the F1-optimal ones on the same dev day
  (``--thresholds dev-day``, the default with ``--dev-day``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import obspy

from seisforge.compress.report import AGREEMENT_TOLERANCE_S
from seisforge.errors import DataError

#: trigger thresholds tried for the student
GRID = np.round(np.arange(0.02, 0.951, 0.01), 2)
#: the metrics the training loop receives per epoch (:class:`seisforge.train.loop.LoopHooks`)
FIELDS = ("dev_day_disagreement", "dev_day_P_f1", "dev_day_S_f1", "dev_day_P_threshold", "dev_day_S_threshold")


def read_day(paths: list[str]) -> obspy.Stream:
    """The continuous stream of ``paths`` (files; folders are read file by file), merged."""
    from seisforge.data.continuous.sources import expand_paths
    from seisforge.data.continuous.waveio import read_waveforms

    files = expand_paths([str(p) for p in paths])
    if not files:
        raise DataError(f"--dev-day: no waveform files in {paths}")
    stream = obspy.Stream()
    for f in files:
        stream += read_waveforms(f)
    return stream.merge(method=1)


def _picker(model):
    """The pick engine on ``model`` where it is (a student being trained on a GPU stays there)."""
    from seisforge.deploy.engine import FastPicker

    device = next(model.parameters()).device
    return FastPicker(model, device=str(device), backend="torch", precision="fp32")


class DayAgreement:
    """The teacher's picks on a dev day, and the student's best agreement with them (see the module)."""

    def __init__(self, teacher, paths: list[str]):
        from seisforge.testing import picks_frame

        self.paths = [str(p) for p in paths]
        self.stream = read_day(self.paths)
        picker = _picker(teacher)
        self.teacher_thresholds = {p: picker.threshold(p) for p in picker.phases}
        self.reference = picks_frame(picker.classify(self.stream))

    def sweep(self, model) -> dict[str, dict[str, Any]]:
        """Per phase: the F1-optimal threshold of ``model`` on the dev day, its F1 and pick counts."""
        from seisforge.deploy.triggers import trigger_picks
        from seisforge.testing import pick_set_f1, picks_frame

        picker = _picker(model)
        curves = picker.annotate(picker.blocks(self.stream))
        best: dict[str, dict[str, Any]] = {p: {"f1": -1.0} for p in picker.phases}
        for thr in GRID:
            est = picks_frame(trigger_picks(curves, {p: float(thr) for p in picker.phases}))
            for p in picker.phases:
                r = pick_set_f1(self.reference[self.reference.phase == p], est[est.phase == p], AGREEMENT_TOLERANCE_S)
                f1 = 0.0 if np.isnan(r["f1"]) else float(r["f1"])
                if f1 > best[p]["f1"]:
                    best[p] = {"f1": f1, "threshold": float(thr), "picks": r["n_est"], "teacher_picks": r["n_ref"]}
        return best

    def metrics(self, model) -> dict[str, float]:
        """The training loop's dev metrics (:data:`FIELDS`)."""
        best = self.sweep(model)
        out = {"dev_day_disagreement": 1.0 - float(np.mean([b["f1"] for b in best.values()]))}
        for p in ("P", "S"):
            out[f"dev_day_{p}_f1"] = best.get(p, {}).get("f1", float("nan"))
            out[f"dev_day_{p}_threshold"] = best.get(p, {}).get("threshold", float("nan"))
        return out

    def thresholds(self, model) -> tuple[dict[str, float], dict[str, Any]]:
        """The card thresholds of ``model`` (F1-optimal on the dev day) and what was measured."""
        best = self.sweep(model)
        info = {"dev_day": self.paths, "tolerance_s": AGREEMENT_TOLERANCE_S, "teacher_picks": len(self.reference),
                **{f"{p}_dev_day_agreement_f1": b["f1"] for p, b in best.items()},
                **{f"{p}_dev_day_picks": b.get("picks") for p, b in best.items()}}
        return {p: b["threshold"] for p, b in best.items() if "threshold" in b}, info

