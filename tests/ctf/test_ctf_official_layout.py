"""``ctf simulate`` / ``ctf run`` write the ctf4science layout as-is, readable by the official code paths.

``ctf4science`` is not on PyPI. Two tests:

- a reader that follows the official code paths (``data_module.get_config`` / ``load_dataset`` /
  ``_load_test_data``, ``eval_module.save_results`` / ``extract_metrics_in_order``, the README's batch
  layout) always runs;
- the official package itself runs when a source checkout is given in ``CTF4SCIENCE_SRC`` (the folder
  holding ``ctf4science/``) or it is importable: its package folder is copied next to ``data/`` and
  ``results/`` (the official ``top_dir`` is the package's parent), with no symlinks, and its loaders,
  ``evaluate``, ``extract_metrics_in_order``, ``compute_psd`` and plotting run on our files.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from seisforge.cli import main
from seisforge.wavefield.layout import PAIR_METRIC_TO_E

NAME = "das_tiny"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A CTF top folder written by the CLI: data/das_tiny and results/das_tiny/{last,dmd}/b1."""
    top = tmp_path_factory.mktemp("ctf_top")
    assert main(["ctf", "simulate", "das", "--size", "tiny", "--seed", "2", "--out", str(top)]) == 0
    for model, extra in (("last", []), ("dmd", ["--set", "rank=8"])):
        assert main(["ctf", "run", "--data", str(top / "data" / NAME), "--model", model, "--out", str(top),
                     "--batch-id", "b1", *extra]) == 0
    return top


def _single(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        assert len(z.files) == 1, path  # _load_npz_file: exactly one main variable
        return z[z.files[0]]


def test_layout_follows_the_official_code_paths(workspace):
    top = workspace
    assert not any(p.is_symlink() for p in top.rglob("*"))
    config = yaml.safe_load((top / "data" / NAME / f"{NAME}.yaml").read_text())  # get_config
    ev = config["evaluation_params"]
    assert {"k_short", "k_long", "modes"} <= set(ev) and config["evaluations"]["long_time"] == "spectral_L2_error"
    assert config["visualizations"]  # get_applicable_plots
    batch_dir = top / "results" / NAME / "dmd" / "b1"  # save_results: results/<dataset>/<method>/<batch_id>
    batch = yaml.safe_load((batch_dir / "batch_results.yaml").read_text())
    assert batch["batch_id"] == "b1" and batch["dataset"] == NAME and batch["model"] == "dmd"
    ordered = []  # extract_metrics_in_order
    for pair in sorted(config["pairs"], key=lambda p: p["id"]):
        pid = pair["id"]
        train = [_single(top / "data" / NAME / "train" / f) for f in pair["train"]]  # load_dataset
        if "initialization" in pair:
            assert _single(top / "data" / NAME / "train" / pair["initialization"]).shape[1] == train[0].shape[1]
        truth = _single(top / "data" / NAME / "test" / pair["test"])  # _load_test_data
        pdir = batch_dir / f"pair{pid}"
        pred = np.load(pdir / "predictions.npy")
        assert pred.shape == truth.shape
        results = yaml.safe_load((pdir / "evaluation_results.yaml").read_text())
        selected = next(p for p in batch["pairs"] if p["pair_id"] == pid)
        assert set(results) == set(pair["metrics"]) and results == selected["metrics"]
        ordered += [selected["metrics"][m] for m in pair["metrics"]]
        cfg = yaml.safe_load((pdir / "config.yaml").read_text())
        assert cfg["dataset"] == {"name": NAME, "pair_id": [pid]}
        assert cfg["model"]["name"] == "dmd" and cfg["model"]["batch_id"] == "b1"
        assert cfg["model"]["rank"] == 8 and "delays" in cfg["model"]  # resolved: defaults included
    e_order = [f"E{PAIR_METRIC_TO_E[(p['id'], m)]}" for p in sorted(config["pairs"], key=lambda p: p["id"])
               for m in p["metrics"]]
    assert ordered == [batch["E"][e] for e in e_order]
    assert batch["avg_score_official"] == pytest.approx(float(np.mean(ordered)))
    assert batch["avg_score_clipped"] == pytest.approx(float(np.mean(np.clip(ordered, -100, 100))))


OFFICIAL_CHECK = r"""
import json, sys
from pathlib import Path
import numpy as np, yaml
import matplotlib
matplotlib.use("Agg")
from ctf4science.data_module import get_config, load_dataset, _load_test_data, get_applicable_plots
from ctf4science.eval_module import evaluate, extract_metrics_in_order, compute_psd
from ctf4science.visualization_module import Visualization

name, batch_dir = sys.argv[1], Path(sys.argv[2])
out = {"evaluate": {}, "plots": []}
config = get_config(name)
batch = yaml.safe_load((batch_dir / "batch_results.yaml").read_text())
for pair in config["pairs"]:
    train, init = load_dataset(name, pair["id"])
    pred = np.load(batch_dir / f"pair{pair['id']}" / "predictions.npy")
    out["evaluate"][pair["id"]] = evaluate(name, pair["id"], pred)
out["ordered"] = [float(v) for v in extract_metrics_in_order(name, batch)]
viz = Visualization()
for plot in get_applicable_plots(name):
    viz.plot_from_batch(name, 1, str(batch_dir / "pair1"), plot_type=plot)
    out["plots"].append(plot)
viz.generate_all_plots(name, str(batch_dir))
truth = _load_test_data(name, 1)
try:
    compute_psd(truth, 5, truth.shape[1] - truth.shape[1] // 2 + 1)
    out["psd_too_many_modes"] = "no error"
except ValueError as err:
    out["psd_too_many_modes"] = "ValueError: " + str(err)
print(json.dumps(out))
"""


def _official_source() -> Path | None:
    env = os.environ.get("CTF4SCIENCE_SRC")
    if env and (Path(env) / "ctf4science" / "eval_module.py").is_file():
        return Path(env) / "ctf4science"
    spec = importlib.util.find_spec("ctf4science")
    return Path(spec.origin).parent if spec and spec.origin else None


def test_official_ctf4science_reads_our_layout(workspace):
    src = _official_source()
    if src is None:
        pytest.skip("ctf4science is not on PyPI and not installed; set CTF4SCIENCE_SRC to a source checkout")
    top = workspace
    shutil.copytree(src, top / "ctf4science", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    batch_dir = top / "results" / NAME / "dmd" / "b1"
    env = {**os.environ, "PYTHONPATH": str(top), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-c", OFFICIAL_CHECK, NAME, str(batch_dir)], cwd=top, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    batch = yaml.safe_load((batch_dir / "batch_results.yaml").read_text())
    for p in batch["pairs"]:
        official = res["evaluate"][str(p["pair_id"])]
        assert official.keys() == p["metrics"].keys()
        for metric, value in p["metrics"].items():
            assert official[metric] == pytest.approx(value, rel=1e-9, abs=1e-9), (p["pair_id"], metric)
    assert res["ordered"] == pytest.approx([batch["E"][f"E{i}"] for i in range(1, 13)], rel=1e-12)
    assert set(res["plots"]) == {"psd", "2d_comparison"}
    assert (batch_dir / "pair1" / "psd_plot.png").is_file()
    assert res["psd_too_many_modes"].startswith("ValueError")  # what docs/ctf.md says
