"""Training: determinism, resume equivalence, bad-trace accounting, fail-fast configs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seisforge.cli import main
from seisforge.config import apply_overrides, from_dict
from seisforge.errors import ConfigError, DataError
from seisforge.train.config import TrainConfig
from seisforge.train.loop import train

TINY = {
    "name": "tiny", "seed": 3, "deterministic": True,
    "model": {"cls": "PhaseNet"},
    "augment": {"pick_window_prob": 0.8, "amplitude_jitter_prob": 0.5, "polarity_flip_prob": 0.5,
                "noise_prob": 0.5, "channel_dropout_prob": 0.2, "time_shift_prob": 0.5},
    "optim": {"lr": 0.001, "warmup_steps": 2},
    "train": {"epochs": 2, "batch_size": 4, "steps_per_epoch": 3, "patience": 5},
}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from seisforge.data.synthetic import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("train")
    synthesize(SynthConfig(events=10, noise_traces=4, seed=1, fractions=(0.6, 0.4, 0.0)), root / "data")
    return root / "data"


def _cfg(data, root, **over):
    d = json.loads(json.dumps(TINY))
    apply_overrides(d, [f"data.path={data}", f"run.root={root}"] + [f"{k}={v}" for k, v in over.items()])
    return from_dict(TrainConfig, d)


def _weights(run_dir):
    return torch.load(run_dir / "checkpoints/last.pt", weights_only=True)["model"]


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {k: train(_cfg(tiny_data, root / k, **over))
            for k, over in (("a", {}), ("b", {}), ("c", {"seed": 4}))}


def test_deterministic_runs_are_bit_identical(runs):
    a, b, c = runs["a"], runs["b"], runs["c"]
    assert _same(_weights(a), _weights(b))
    assert not _same(_weights(a), _weights(c))
    for f in ("config.resolved.yaml", "env.json", "data.sha256", "metrics.csv", "best/model.json",
              "best/model.pt", "best/model.safetensors"):
        assert (a / f).is_file(), f
    env = json.loads((a / "env.json").read_text())
    assert env["precision"] == "fp32" and env["device"] == "cpu"
    assert (a / "data.sha256").read_text() == (b / "data.sha256").read_text()
    rep = json.loads((a / "run_report.json").read_text())
    assert rep["command"] == "train" and rep["processed"] == 2 * 3 * 4  # epochs x steps x batch, none bad
    assert rep["notes"]["stopped"] == "finished" and rep["failed"] == {}
    import seisbench.models as sbm

    loaded = sbm.PhaseNet.load(a / "best/model")
    assert isinstance(loaded, sbm.PhaseNet)


def test_resume_equals_uninterrupted(tiny_data, tmp_path):
    full = train(_cfg(tiny_data, tmp_path / "full"))
    part = train(_cfg(tiny_data, tmp_path / "part", **{"train.stop_after_steps": 4}))  # stops mid epoch 2
    ck = torch.load(part / "checkpoints/last.pt", weights_only=True)
    assert json.loads(ck["state"])["epoch"] == 1 and json.loads(ck["state"])["step_in_epoch"] == 1
    assert main(["train", "--resume", str(part), "--set", "train.stop_after_steps=null"]) == 0
    assert _same(_weights(full), _weights(part))
    rows = (part / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + 2 epochs, none duplicated
    assert json.loads((part / "run_report.json").read_text())["processed"] == \
        json.loads((full / "run_report.json").read_text())["processed"] == 2 * 3 * 4


def test_bad_traces_counted_and_stop(tiny_data, tmp_path):
    import shutil

    import h5py

    bad = tmp_path / "bad"
    shutil.copytree(tiny_data, bad)
    import pandas as pd

    meta = pd.read_csv(bad / "metadata.csv")
    name = meta.loc[meta["split"] == "train", "trace_name"].iloc[0]
    bucket, rest = name.split("$")
    i = int(rest.split(",")[0])
    with h5py.File(bad / "waveforms.hdf5", "r+") as f:
        f["data"][bucket][i, 0, 100] = np.nan
    with pytest.raises(DataError, match="traces failed to load"):
        train(_cfg(bad, tmp_path / "r1"))
    (r1,) = (tmp_path / "r1").iterdir()
    rep1 = json.loads((r1 / "run_report.json").read_text())
    assert rep1["notes"]["stopped"] == "too_many_bad_traces" and rep1["failed"]["trace_failed_to_load"] >= 1
    run = train(_cfg(bad, tmp_path / "r2", **{"data.max_bad_fraction": 0.5}))
    metrics = (run / "metrics.csv").read_text().splitlines()
    assert metrics[-1].split(",")[9] != "0"  # bad_traces column counts it
    rep = json.loads((run / "run_report.json").read_text())
    assert rep["failed"]["trace_failed_to_load"] == int(metrics[-1].split(",")[9])
    assert rep["examples"]["failed:trace_failed_to_load"][0].endswith(name)
    assert rep["processed"] == 2 * 3 * 4 - rep["failed"]["trace_failed_to_load"]


def test_config_fails_fast(tiny_data, tmp_path):
    with pytest.raises(DataError, match="dataset not found"):
        train(_cfg(tmp_path / "nope", tmp_path / "r"))
    with pytest.raises(DataError, match="weights not found"):
        train(_cfg(tiny_data, tmp_path / "r", **{"loss.kd.teacher": "seisbench:PhaseNet",
                                                  "loss.kd.teacher_weights": str(tmp_path / "missing")}))
    with pytest.raises(ConfigError, match="unknown SeisBench model class"):
        train(_cfg(tiny_data, tmp_path / "r", **{"loss.kd.teacher": "seisbench:NoNet"}))
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(TrainConfig, {"modle": {}})
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2


def test_kd_training_runs_with_teacher(tiny_data, tmp_path, shared):
    weights = shared / "models/phasenetlight_ethz/ethz"
    cfg = _cfg(tiny_data, tmp_path / "kd", **{"model.cls": "PhaseNetLight", "model.weights": str(weights),
                                               "loss.kind": "hard_ce", "loss.kd.teacher": "seisbench:PhaseNetLight",
                                               "loss.kd.teacher_weights": str(weights), "train.epochs": 1})
    run = train(cfg)
    assert (run / "best/model.safetensors").is_file()


def test_predict_with_run_and_ensemble_specs(runs, tiny_data, tmp_path):
    import pandas as pd

    from seisforge.bench.picking.targets import generate_targets

    generate_targets(tiny_data, tmp_path / "t", splits=("dev",))
    for spec, out in ((f"run:{runs['a']}", "p1"), (f"ensemble:run:{runs['a']},run:{runs['c']}", "p2"),
                      (f"ensemble:run:{runs['a']},run:{runs['a']}", "p3")):
        assert main(["bench", "predict", "--dataset", str(tiny_data), "--targets", str(tmp_path / "t"),
                     "--model", spec, "--out", str(tmp_path / out), "--splits", "dev"]) == 0
    p1, p2, p3 = (pd.read_csv(tmp_path / o / "dev_task23.csv") for o in ("p1", "p2", "p3"))
    assert len(p1) == len(p2) > 0
    # an ensemble of a model with itself is the model; with another model it differs
    assert (p1["p_prob"] - p3["p_prob"]).abs().max() < 1e-6
    assert (p1["p_prob"] - p2["p_prob"]).abs().max() > 1e-6


def test_bench_overlap_refused_unless_overridden(tiny_data, tmp_path):
    from seisforge.bench.picking.targets import generate_targets
    from seisforge.data.synthetic import SynthConfig, synthesize
    from seisforge.errors import LeakageError

    synthesize(SynthConfig(events=4, noise_traces=1, seed=9, fractions=(0.0, 0.5, 0.5)), tmp_path / "other")
    generate_targets(tmp_path / "other", tmp_path / "clean")
    generate_targets(tiny_data, tmp_path / "leaky", splits=("dev",))
    quick = {"train.epochs": 1, "train.steps_per_epoch": 1}
    train(_cfg(tiny_data, tmp_path / "ok", **quick, **{"data.bench": str(tmp_path / "clean")}))
    with pytest.raises(LeakageError, match="overlaps benchmark"):
        train(_cfg(tiny_data, tmp_path / "bad", **quick, **{"data.bench": str(tmp_path / "leaky")}))
    run = train(_cfg(tiny_data, tmp_path / "over", **quick, **{"data.bench": str(tmp_path / "leaky"),
                                                              "data.allow_bench_overlap": True}))
    env = json.loads((run / "env.json").read_text())
    assert env["bench_overlap"]["override"] is True and env["bench_overlap"]["domain"] == "in-domain"


def test_train_from_manifest(tiny_data, tmp_path):
    assert main(["data", "manifest", "--dataset", str(tiny_data), "--out", str(tmp_path / "m.parquet")]) == 0
    run = train(_cfg(tiny_data, tmp_path / "r", **{"data.path": "null", "data.manifest": str(tmp_path / "m.parquet"),
                                                   "train.epochs": 1, "train.steps_per_epoch": 1}))
    keys = (run / "data_traces.tsv").read_text().splitlines()[1:]
    import pandas as pd

    m = pd.read_parquet(tmp_path / "m.parquet")
    assert len(keys) == int(m["split"].isin(["train", "dev"]).sum())


def test_scores_labelled_in_domain_when_training_overlaps(runs, tiny_data, tmp_path):
    import pandas as pd

    from seisforge.bench.picking.predict import predict
    from seisforge.bench.picking.score import score
    from seisforge.bench.picking.targets import generate_targets

    generate_targets(tiny_data, tmp_path / "t", splits=("dev",))
    for task in ("1", "23"):  # relabel dev targets as test: they are in the run's training data
        f = tmp_path / "t" / f"task{task}.csv"
        pd.read_csv(f).assign(trace_split="test").to_csv(f, index=False)
    predict(tiny_data, tmp_path / "t", f"run:{runs['a']}", tmp_path / "p", splits=("test",))
    res = score(tmp_path / "p", n_boot=0)
    assert res["domain"] == "in-domain"
    assert res["leakage"]["test_overlap"] and res["leakage"]["events"]["count"] > 0
    predict(tiny_data, tmp_path / "t", "stalta", tmp_path / "q", splits=("test",))
    assert score(tmp_path / "q", n_boot=0)["domain"] == "unknown"


def test_pool_noise_augmentation_adds_scaled_noise():
    from seisforge.train.augment import PoolNoise

    class FakePool:
        def __len__(self):
            return 1

        def sample(self, rng, length):
            return np.ones((3, length), dtype=np.float32)

    x = np.zeros((3, 100), dtype=np.float32)
    x[:, 50] = 2.0
    state = {"X": (x.copy(), {})}
    np.random.seed(0)
    PoolNoise(FakePool(), scale=(0.5, 0.5))(state)
    out = state["X"][0]
    assert np.allclose(out[:, 0], 1.0) and np.allclose(out[:, 50], 3.0)  # noise peak = 0.5 * signal peak


def test_training_draws_noise_from_pool(tiny_data, tmp_path, shared):
    weights = shared / "models/phasenetlight_ethz/ethz"
    assert main(["data", "manifest", "--dataset", str(tiny_data), "--out", str(tmp_path / "m.parquet")]) == 0
    (tmp_path / "pool.yaml").write_text("manifest: m.parquet\nsplits: [train]\nwindow_s: 20\nthreshold: 0.3\n")
    assert main(["data", "noise-pool", str(tmp_path / "pool.yaml"), "--model", "seisbench:PhaseNetLight",
                 "--weights", str(weights), "--out", str(tmp_path / "noise.parquet")]) == 0
    run = train(_cfg(tiny_data, tmp_path / "r", **{"augment.noise_prob": 1.0, "augment.noise_pool":
                                                   str(tmp_path / "noise.parquet"), "train.epochs": 1}))
    assert (run / "best/model.pt").is_file()


def test_ddp_two_processes_on_cpu(tiny_data, tmp_path):
    """torchrun with 2 gloo processes: one run directory, written by rank 0, with a selected model."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "seisforge.cli", "train", "--set", f"data.path={tiny_data}", "--set", f"run.root={tmp_path}",
           "--set", "model.cls=PhaseNetLight", "--set", "train.epochs=1", "--set", "train.batch_size=4",
           "--set", "train.steps_per_epoch=2", "--set", "name=ddp"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = list(tmp_path.iterdir())
    assert [r.name for r in runs] == ["ddp"]
    env = json.loads((runs[0] / "env.json").read_text())
    assert env["world_size"] == 2
    assert (runs[0] / "best/model.safetensors").is_file()
    assert len((runs[0] / "metrics.csv").read_text().strip().splitlines()) == 2


def test_frozen_bn_stats_keep_the_running_statistics(runs, tiny_data, tmp_path):
    """train.bn_stats=frozen: the norms never update their statistics (the function trained is the one
    pick runs) while the weights still train, differently from the default, which updates them."""
    run = train(_cfg(tiny_data, tmp_path / "f", **{"train.bn_stats": "frozen"}))
    frozen, default = _weights(run), _weights(runs["a"])
    stats = [k for k in frozen if k.endswith(("running_mean", "running_var"))]
    assert stats

    def fresh(k):  # a new BatchNorm's statistics
        return 0.0 if k.endswith("running_mean") else 1.0

    assert all(torch.all(frozen[k] == fresh(k)) for k in stats)
    assert not all(torch.all(default[k] == fresh(k)) for k in stats)
    assert json.loads((run / "run_report.json").read_text())["processed"] == 2 * 3 * 4
    assert not torch.equal(frozen["inc.weight"], default["inc.weight"])  # same seed, same batches
    with pytest.raises(ConfigError, match="bn_stats"):
        _cfg(tiny_data, tmp_path / "x", **{"train.bn_stats": "running"})
