"""``bench score`` on pick-benchmark-format predictions: NaN with a reason, never a silent zero."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from seisforge.bench.picking.score import score


def _predictions(folder, rng: np.random.Generator, single_class_dev: bool = False) -> None:
    """Plausible ``{dev,test}_task{1,23}.csv`` with ``p_prob``/``s_prob`` (a good picker)."""
    folder.mkdir()
    for split in ("dev", "test"):
        n = 40
        kind = np.where(rng.random(n) < 0.6, "earthquake", "noise")
        if single_class_dev and split == "dev":
            kind[:] = "earthquake"
        eq = kind == "earthquake"
        t1 = pd.DataFrame({"trace_name": [f"{split}{i}" for i in range(n)], "trace_split": split,
                           "sampling_rate": 100.0, "start_sample": 0, "end_sample": 3000, "trace_type": kind,
                           "score_detection": np.clip(eq * 0.6 + rng.random(n) * 0.5, 0, 1),
                           "p_prob": np.where(eq, 0.9, rng.random(n) * 0.3),
                           "s_prob": np.where(eq, 0.8, rng.random(n) * 0.3),
                           "source_id": np.where(eq, [f"ev{split}{i}" for i in range(n)], "")})
        t1.to_csv(folder / f"{split}_task1.csv", index=False)
        m = 30
        phase = np.where(np.arange(m) % 2 == 0, "P", "S")
        onset = 500 + rng.random(m) * 100
        t23 = pd.DataFrame({"trace_name": [f"{split}e{i // 2}" for i in range(m)], "trace_split": split,
                            "sampling_rate": 100.0, "start_sample": 0, "end_sample": 1000, "phase_label": phase,
                            "full_phase_label": phase, "phase_onset": onset,
                            "score_p_or_s": np.where(phase == "P", 2.0, 0.5) + rng.random(m) * 0.1,
                            "p_sample_pred": onset + rng.normal(0, 10, m), "s_sample_pred": onset + rng.normal(0, 10, m),
                            "p_prob": np.where(phase == "P", 0.9, 0.1), "s_prob": np.where(phase == "S", 0.9, 0.1),
                            "source_id": [f"ev{split}{i // 2}" for i in range(m)]})
        t23.to_csv(folder / f"{split}_task23.csv", index=False)


def test_pick_benchmark_format_gives_nan_extras_with_reasons(tmp_path):
    _predictions(tmp_path / "full", np.random.default_rng(0))
    full = score(tmp_path / "full", n_boot=20)
    pb = tmp_path / "pb"
    pb.mkdir()
    for f in (tmp_path / "full").glob("*_task*.csv"):
        pd.read_csv(f).drop(columns=["p_prob", "s_prob"]).to_csv(pb / f.name, index=False)
    part = score(pb, n_boot=20)
    assert full["metrics"]["test_P_recall"] > 0.5 and full["metrics"]["test_S_noise_fp_rate"] is not None
    saved = json.loads((pb / "metrics.json").read_text())
    for ph in ("P", "S"):
        for key in (f"{ph}_pick_threshold", f"test_{ph}_recall", f"test_{ph}_noise_fp_rate",
                    f"test_{ph}_detected_frac", f"test_{ph}_pick_precision", f"test_{ph}_cond_mae_s"):
            assert saved["metrics"][key] is None, key
            assert f"{ph.lower()}_prob" in saved["reasons"][key]
        assert f"test_{ph}_recall" not in saved["ci95"]
    # pick-benchmark's own keys do not depend on the probabilities
    for key in ("test_det_auc", "test_phase_mcc", "test_P_mae_s", "test_S_std_s", "test_P_outlier_frac_1s"):
        assert part["metrics"][key] == full["metrics"][key]


def test_single_class_task1_writes_dev_det_as_null_with_reason(tmp_path):
    _predictions(tmp_path / "p", np.random.default_rng(1), single_class_dev=True)
    score(tmp_path / "p", n_boot=0)
    saved = json.loads((tmp_path / "p" / "metrics.json").read_text())
    for key in ("dev_det_precision", "dev_det_recall", "dev_det_f1", "det_threshold", "test_det_f1"):
        assert key in saved["metrics"] and saved["metrics"][key] is None
        assert "single class" in saved["reasons"][key]
