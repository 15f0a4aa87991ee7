"""Tests of the config system, run report, path safety and bootstrap."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from seisforge.bench.stats import cluster_bootstrap
from seisforge.config import apply_overrides, from_dict
from seisforge.errors import ConfigError, DataError
from seisforge.paths import resolve_under


@dataclass
class Inner:
    lr: float = 1e-3
    steps: int = 10


@dataclass
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    tags: list[str] = field(default_factory=list)


def test_config_overrides_and_types():
    data = apply_overrides({"name": "a"}, ["inner.lr=0.5", "inner.steps=3", "tags=[x, y]"])
    cfg = from_dict(Outer, data)
    assert cfg.inner.lr == 0.5 and cfg.inner.steps == 3 and cfg.tags == ["x", "y"]


def test_config_rejects_unknown_and_bad_types():
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(Outer, {"name": "a", "typo": 1})
    with pytest.raises(ConfigError, match="inner.steps: expected an integer"):
        from_dict(Outer, {"name": "a", "inner": {"steps": "ten"}})
    with pytest.raises(ConfigError, match="missing required key 'name'"):
        from_dict(Outer, {})


def test_resolve_under_blocks_escape(tmp_path):
    assert resolve_under(tmp_path, "a/b.h5") == (tmp_path / "a/b.h5").resolve()
    with pytest.raises(DataError, match="escapes"):
        resolve_under(tmp_path, "../etc/passwd")
    with pytest.raises(DataError, match="escapes"):
        resolve_under(tmp_path, "/etc/passwd")


def test_cluster_bootstrap_resamples_clusters():
    # two clusters with very different means: row bootstrap would be much narrower than cluster bootstrap
    values = np.array([0.0] * 50 + [1.0] * 50)
    clusters = np.array(["a"] * 50 + ["b"] * 50)
    ci = cluster_bootstrap(clusters, lambda idx: {"mean": values[idx].mean()}, n_boot=200, seed=1)
    lo, hi = ci["mean"]
    assert lo == 0.0 and hi == 1.0  # only 2 clusters: resamples give 0, 0.5 or 1


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--version"], 0, "seisforge 0.1.0"),
    (["no-such-command"], 2, "invalid choice"),
    (["pick", "--input", "/nonexistent", "--model", "PhaseNet", "--out", "OUT"], 2, "needs --weights"),
])
def test_program_exits_with_mains_code(tmp_path, args, code, says):
    """The program (``python -m seisforge.cli``, the ``seisforge`` script's ``run``) exits with main's code."""
    import os
    import subprocess
    import sys

    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    res = subprocess.run([sys.executable, "-m", "seisforge.cli", *args], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == code, res.stderr
    assert says in res.stdout + res.stderr
