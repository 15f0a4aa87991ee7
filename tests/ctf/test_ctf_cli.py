"""End to end through the CLI: simulate -> run -> leaderboard; failures recorded; tuning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

import seisforge.wavefield.models as wf
from seisforge.cli import main
from seisforge.errors import DataError
from seisforge.wavefield.models.simple import NoConfig, ZeroModel


def test_simulate_run_leaderboard(tmp_path, capsys):
    top = tmp_path / "ctf"
    data = top / "data" / "das_tiny"
    assert main(["ctf", "simulate", "das", "--size", "tiny", "--seed", "1", "--out", str(top)]) == 0
    assert "cell-updates/s" in capsys.readouterr().out
    assert (data / "das_tiny.yaml").is_file()
    for model in ("zero", "dmd"):
        assert main(["ctf", "run", "--data", str(data), "--model", model, "--out", str(top), "--batch-id", "b1"]) == 0
    res = top / "results" / "das_tiny" / "dmd" / "b1"
    for pid in range(1, 10):
        pred = np.load(res / f"pair{pid}" / "predictions.npy")
        assert pred.ndim == 2
        assert set(yaml.safe_load((res / f"pair{pid}" / "evaluation_results.yaml").read_text()))
    batch = yaml.safe_load((res / "batch_results.yaml").read_text())
    assert [p["pair_id"] for p in batch["pairs"]] == list(range(1, 10)) and batch["batch_id"] == "b1"
    assert (res / "config.resolved.yaml").is_file() and (res / "environment.json").is_file()
    # the same batch id twice is refused: two runs never mix in one batch folder
    assert main(["ctf", "run", "--data", str(data), "--model", "dmd", "--out", str(top), "--batch-id", "b1"]) == 2
    assert main(["ctf", "leaderboard", str(top / "results"), "--out", str(tmp_path / "lb")]) == 0
    md = (tmp_path / "lb" / "leaderboard.md").read_text()
    zero_row = next(line for line in md.splitlines() if line.startswith("| zero "))
    assert zero_row == "| zero | " + " | ".join(["0.0"] * 12) + " | 0.0 | 0.0 |"
    assert "AvgScore (official mean) | AvgScore (clipped)" in md
    csv = (tmp_path / "lb" / "leaderboard.csv").read_text().splitlines()
    assert len(csv) == 3 and csv[0].startswith("dataset,model,label,batch_id,split,E1")
    assert (tmp_path / "lb" / "heatmap.png").stat().st_size > 1000
    assert (tmp_path / "lb" / "panels_das_tiny_dmd.png").is_file()


class NanModel(ZeroModel):
    name = "nan"
    Config = NoConfig

    def predict(self, task):
        out = np.zeros(task.shape)
        out[0, 0] = np.nan
        return out


class WrongShapeModel(ZeroModel):
    name = "wrong"

    def predict(self, task):
        return np.zeros((task.n_steps + 1, task.n_space))


@pytest.fixture
def extra_models(monkeypatch):
    orig = wf.model_class
    extra = {"nan": NanModel, "wrong": WrongShapeModel}
    monkeypatch.setattr(wf, "model_class", lambda name: extra.get(name) or orig(name))


def test_nan_predictions_score_minus_100_with_reason(tiny_datasets, tmp_path, extra_models, capsys):
    assert main(["ctf", "run", "--data", str(tiny_datasets["crustal"]), "--model", "nan", "--pairs", "1-2",
                 "--out", str(tmp_path), "--batch-id", "n"]) == 0
    out = tmp_path / "results" / "crustal_tiny" / "nan" / "n"
    assert "non_finite_prediction" in capsys.readouterr().out
    batch = yaml.safe_load((out / "batch_results.yaml").read_text())
    assert batch["pairs"][0]["metrics"] == {"short_time": -100.0, "long_time": -100.0}
    assert "non_finite_prediction" in batch["pairs"][0]["failure"]
    report = json.loads((out / "run_report.json").read_text())
    assert report["failed"] == {"non_finite_prediction": 2}
    assert report["examples"]["failed:non_finite_prediction"] == ["pair1", "pair2"]


def test_bad_input_errors_through_cli(tiny_datasets, tmp_path, extra_models, capsys):
    data = str(tiny_datasets["crustal"])
    assert main(["ctf", "run", "--data", data, "--model", "zero", "--pairs", "12", "--out", str(tmp_path / "a")]) == 2
    assert "unknown pair(s) [12]" in capsys.readouterr().err
    with pytest.raises(DataError, match="returned shape"):
        from seisforge.wavefield.layout import read_ctf_dataset
        from seisforge.wavefield.runner import run_model

        run_model(read_ctf_dataset(data), "wrong", {}, [1])
    assert main(["ctf", "run", "--data", str(tmp_path / "none"), "--model", "zero", "--out", str(tmp_path / "b")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    assert main(["ctf", "simulate", "crustal", "--size", "tiny", "--set", "dt=2", "--out", str(tmp_path / "c")]) == 2
    assert "CFL condition violated" in capsys.readouterr().err


def test_chronos_is_skipped_with_reason(tiny_datasets, tmp_path, capsys):
    assert main(["ctf", "run", "--data", str(tiny_datasets["das"]), "--model", "chronos", "--out", str(tmp_path),
                 "--batch-id", "c"]) == 0
    out = tmp_path / "results" / "das_tiny" / "chronos" / "c"
    assert "skipped model chronos" in capsys.readouterr().out
    report = json.loads((out / "run_report.json").read_text())
    assert report["skipped"] == {"model_unavailable": 1} and "local weights" in report["notes"]["reason"]
    assert not (out / "batch_results.yaml").exists()


def test_ray_tune_asha_two_samples(tiny_datasets, tmp_path):
    """A real Ray Tune + ASHA run (local Ray, 2 samples, 2 budget steps): about 30-60 s."""
    pytest.importorskip("ray.tune")
    from seisforge.wavefield.tune import tune_ctf

    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({
        "max_t": 2, "grace_period": 1,
        "params": {"hidden": {"type": "choice", "values": [8, 16]}, "lr": {"type": "loguniform", "low": 1e-3,
                   "high": 1e-2}, "epochs": {"type": "constant", "value": 2}, "rank": {"type": "constant", "value": 8},
                   "window": {"type": "constant", "value": 4}},
    }))
    best = tune_ctf(tiny_datasets["crustal"], "lstm", space, 2, pairs="1", out=tmp_path / "tune", seed=0)
    cfg = yaml.safe_load((tmp_path / "tune" / "best_config.yaml").read_text())
    assert cfg["hidden"] in (8, 16) and 1e-3 <= cfg["lr"] <= 1e-2 and cfg["epochs"] == 2
    import pandas as pd

    trials = pd.read_csv(tmp_path / "tune" / "trials.csv")
    assert len(trials) == 2 and np.isfinite(best["score"])
