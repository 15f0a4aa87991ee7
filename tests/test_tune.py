"""seisforge tune: Ray Tune + ASHA over training configs; trials are run directories."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from seisforge.cli import main

pytest.importorskip("ray")


def test_tune_picker_small(tmp_path):
    from seisforge.data.synthetic import SynthConfig, synthesize

    synthesize(SynthConfig(events=8, noise_traces=3, seed=1, fractions=(0.6, 0.4, 0.0)), tmp_path / "d")
    (tmp_path / "base.yaml").write_text(
        "name: t\nseed: 0\nmodel: {cls: PhaseNetLight}\n"
        "train: {batch_size: 4, steps_per_epoch: 2, patience: 5}\n")
    (tmp_path / "space.yaml").write_text(
        "max_t: 2\ngrace_period: 1\nreduction_factor: 2\n"
        "params:\n  optim.lr: {type: loguniform, low: 1.0e-4, high: 1.0e-2}\n"
        "  labels.sigma: {type: choice, values: [10, 20]}\n")
    out = tmp_path / "tune"
    assert main(["tune", str(tmp_path / "base.yaml"), "--space", str(tmp_path / "space.yaml"), "--samples", "2",
                 "--set", f"data.path={tmp_path / 'd'}", "--out", str(out)]) == 0
    summary = json.loads((out / "tune_summary.json").read_text())
    assert set(summary["best_config"]) == {"optim.lr", "labels.sigma"}
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2 and "dev_loss" in trials.columns
    runs = sorted((out / "trials").iterdir())
    assert len(runs) == 2 and all((r / "config.resolved.yaml").is_file() for r in runs)
    assert "optim" in (out / "best_config.yaml").read_text()
    # the HTML report shows a real tune folder: trials, the ASHA picture and the best config
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    html = (tmp_path / "report" / "index.html").read_text()
    assert '<section id="tuning">' in html and "optim.lr" in html and "data:image/png;base64" in html


def test_tune_rejects_unknown_space_key(tmp_path):
    (tmp_path / "base.yaml").write_text("name: t\ndata: {path: x}\n")
    (tmp_path / "space.yaml").write_text("params:\n  optim.lrr: {type: uniform, low: 0.1, high: 0.2}\n")
    assert main(["tune", str(tmp_path / "base.yaml"), "--space", str(tmp_path / "space.yaml"), "--samples", "1",
                 "--out", str(tmp_path / "o")]) == 2
