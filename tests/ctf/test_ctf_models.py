"""Baselines through the plug-in interface on tiny simulated datasets."""

from __future__ import annotations

import numpy as np
import pytest

from seisforge.errors import ConfigError
from seisforge.wavefield.layout import evaluation_split, read_ctf_dataset
from seisforge.wavefield.models import ModelUnavailable, Task, build_wavefield_model
from seisforge.wavefield.runner import run_model

FAST = {
    "lstm": {"epochs": 2, "hidden": 16, "rank": 8, "window": 4},
    "fno": {"epochs": 1, "width": 8, "modes": 4, "layers": 1, "window": 2},
    "deeponet": {"epochs": 3, "width": 16, "basis": 8, "rank": 8, "window": 2},
    "esn": {"reservoir": 60, "rank": 8},
    "dmd": {"rank": 10, "delays": 2},
}


@pytest.mark.parametrize("kind", ["global", "das", "crustal"])
def test_zero_baseline_scores_exactly_zero_on_every_e(tiny_datasets, kind):
    batch = run_model(read_ctf_dataset(tiny_datasets[kind]), "zero", {}, list(range(1, 10)))
    assert batch["E"] == {f"E{i}": 0.0 for i in range(1, 13)}
    assert batch["avg_score_clipped"] == 0.0 and batch["avg_score_official"] == 0.0


@pytest.mark.parametrize("name", ["mean", "last", "dmd", "esn", "lstm", "fno", "deeponet"])
def test_models_predict_the_truth_shape(tiny_datasets, name):
    ds = read_ctf_dataset(tiny_datasets["das"])
    for pid in (1, 2, 8):
        split = evaluation_split(ds, pid)
        model = build_wavefield_model(name, FAST.get(name), seed=0)
        task = Task(pid, split.task, *split.truth_shape, split.init)
        model.fit(split.train, task)
        pred = model.predict(task)
        assert pred.shape == split.truth.shape and np.isfinite(pred).all()


def test_learned_baselines_beat_zero_on_e1_and_e3(tiny_datasets):
    ds = read_ctf_dataset(tiny_datasets["das"])
    dmd = run_model(ds, "dmd", {}, [1, 2])
    assert dmd["E"]["E1"] > 20.0 and dmd["E"]["E3"] > 50.0
    ds = read_ctf_dataset(tiny_datasets["crustal"])
    esn = run_model(ds, "esn", {}, [1, 2])
    assert esn["E"]["E1"] > 20.0 and esn["E"]["E3"] > 50.0


def test_runs_are_reproducible(tiny_datasets):
    ds = read_ctf_dataset(tiny_datasets["crustal"])
    a = run_model(ds, "lstm", FAST["lstm"], [1], seed=5)
    b = run_model(ds, "lstm", FAST["lstm"], [1], seed=5)
    assert a["E"] == b["E"]


def test_unknown_model_and_config_keys():
    with pytest.raises(ConfigError, match="unknown wavefield model"):
        build_wavefield_model("transformerxl")
    with pytest.raises(ConfigError, match="unknown key"):
        build_wavefield_model("dmd", {"rnak": 3})


def test_chronos_without_local_weights_is_unavailable(tmp_path):
    with pytest.raises(ModelUnavailable, match="local weights not found"):
        build_wavefield_model("chronos", {"weights": str(tmp_path / "nowhere")})


def test_validation_run_caps_k_at_short_truths(tiny_datasets):
    ds = read_ctf_dataset(tiny_datasets["das"])
    # tiny limited-data matrices have 30 rows, so the 20 % validation truth has 6 rows < k = 20
    batch = run_model(ds, "last", {}, [1, 2, 6, 8], validation=True)
    assert batch["split"] == "validation" and batch["avg_score_clipped"] is None and batch["avg_score_official"] is None
    assert all(np.isfinite(v) for p in batch["pairs"] for v in p["metrics"].values())
    assert batch["pairs"][1]["metrics"]["reconstruction"] == 100.0  # truth is the noisy input itself
