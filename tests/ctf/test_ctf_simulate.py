"""Simulators: layout, normalisation, reproducibility, CFL / sampling errors."""

from __future__ import annotations

import numpy as np
import pytest

from seisforge.errors import ConfigError
from seisforge.wavefield.layout import read_ctf_dataset
from seisforge.wavefield.simulate import simulate
from seisforge.wavefield.simulate.das import wavenumber
from seisforge.wavefield.simulate.stepping import check_cfl, courant_limit, laplacian4


@pytest.mark.parametrize("kind", ["global", "das", "crustal"])
def test_tiny_dataset_layout_and_normalisation(tiny_datasets, kind):
    ds = read_ctf_dataset(tiny_datasets[kind])
    assert sorted(ds.pairs) == list(range(1, 10))
    for name, shape in ds.shapes.items():
        split = "train" if "train" in name else "test"
        arr = ds.load(name, split)
        assert arr.shape == shape and np.isfinite(arr).all()
    x1 = ds.train(1)[0]
    assert abs(x1.mean()) < 1e-9 and x1.std() == pytest.approx(1.0)
    # reconstruction truth is the clean matrix; the train matrix is noisier
    clean = ds.test(2)
    np.testing.assert_array_equal(clean, x1)
    assert np.std(ds.train(2)[0] - clean) == pytest.approx(0.2, rel=0.1)
    assert np.std(ds.train(4)[0] - clean) == pytest.approx(0.5, rel=0.1)
    assert ds.start_index["X1test.npz"] == x1.shape[0]
    assert ds.params.modes == min(100, x1.shape[1] - x1.shape[1] // 2)
    assert ds.config["simulation"]["simulator"] == kind


def test_simulation_is_seeded(tmp_path):
    a = simulate("crustal", tmp_path / "a", size="tiny", seed=3)
    simulate("crustal", tmp_path / "b", size="tiny", seed=3)
    simulate("crustal", tmp_path / "c", size="tiny", seed=4)
    da, db, dc = (read_ctf_dataset(tmp_path / x) for x in "abc")
    np.testing.assert_array_equal(da.train(1)[0], db.train(1)[0])
    assert not np.allclose(da.train(1)[0], dc.train(1)[0])
    assert a["courant"] <= courant_limit(3)


def test_cfl_violation_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="CFL condition violated"):
        simulate("crustal", tmp_path / "x", size="tiny", overrides=["dt=1.0"])
    with pytest.raises(ConfigError, match="CFL condition violated"):
        simulate("global", tmp_path / "y", size="tiny", overrides=["courant=0.9"])
    with pytest.raises(ConfigError, match="sampling condition violated"):
        simulate("das", tmp_path / "z", size="tiny", overrides=["dt=3.0"])
    with pytest.raises(ConfigError, match="unknown key"):
        simulate("das", tmp_path / "z", size="tiny", overrides=["bogus=1"])
    assert check_cfl(1.0, 0.5, 1.0, 2, "t") == 0.5
    assert courant_limit(1) == pytest.approx(np.sqrt(3) / 2)


def test_laplacian4_is_fourth_order():
    errs = []
    for n in (16, 32):
        dx = 2 * np.pi / n
        x = (np.arange(-2, n + 2)) * dx
        u = np.sin(x)
        lap = laplacian4(np.stack([u] * 5)[:, :], dx)  # 2-D array, constant along axis 0
        errs.append(np.abs(lap[0] + np.sin(x[2:-2])).max())
    assert errs[0] / errs[1] == pytest.approx(16, rel=0.2)


def test_dispersion_relation_limits():
    g, h = 9.81, np.array([5.0, 4000.0])
    w = 2 * np.pi * 0.1
    k = wavenumber(w, h)
    np.testing.assert_allclose(w**2, g * k * np.tanh(k * h), rtol=1e-10)
    assert k[1] == pytest.approx(w**2 / g, rel=1e-6)  # deep water
    assert k[0] == pytest.approx(w / np.sqrt(g * h[0]), rel=0.05)  # shallow water


def test_benchmark_prints_cell_updates_per_second():
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ctf_sim.py"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, str(script), "--size", "tiny", "--kinds", "das", "crustal"],
                         capture_output=True, text=True, check=True, env=env, timeout=120).stdout
    lines = out.strip().splitlines()
    assert "cell-updates/s" in lines[0] and len(lines) == 3
    assert float(lines[1].split()[-1]) > 0 and lines[2].startswith("crustal")
