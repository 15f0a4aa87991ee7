"""Pretraining window sources: QC counts and skips bad windows (never zero-fills), clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from pretrain_helpers import tiny_config, write_station

from seisforge.errors import DataError
from seisforge.train.pretrain.config import PretrainDataConfig
from seisforge.train.pretrain.loop import pretrain
from seisforge.train.pretrain.windows import REASONS, WindowDataset, WindowSource, normalise, qc_reason


class _Scripted(WindowSource):
    """Returns the windows of a script in order (one unit)."""

    def __init__(self, windows):
        self.windows, self.k = windows, 0

    @property
    def n_units(self):
        return 1

    def draw(self, rng, unit, dev, length):
        w = self.windows[self.k % len(self.windows)]
        self.k += 1
        return w


def _windows():
    rng = np.random.default_rng(0)
    good = rng.standard_normal((3, 200)).astype(np.float32)
    nan = good.copy()
    nan[1, 50] = np.nan
    flat = good.copy()
    flat[2] = 0.0
    clipped = good.copy()
    clipped[0, 10:20] = np.abs(good).max() + 1.0
    return good, nan, flat, clipped


def test_qc_counts_each_reason_and_never_zero_fills():
    good, nan, flat, clipped = _windows()
    cfg = PretrainDataConfig(window_samples=200)
    assert [qc_reason(w, cfg) for w in (good, nan, flat, clipped)] == [None, "nonfinite", "flat", "clipped"]
    ds = WindowDataset(_Scripted([nan, flat, clipped, good]), cfg, seed=0, n=1)
    item = ds[0]
    counts = dict(zip(REASONS, item["rejects"].tolist()))
    assert item["valid"] and counts["nonfinite"] == counts["flat"] == counts["clipped"] == 1
    assert np.array_equal(item["x"].numpy(), normalise(good))
    bad = WindowDataset(_Scripted([nan, flat]), PretrainDataConfig(window_samples=200, max_tries=4), seed=0, n=1)[0]
    assert not bad["valid"] and dict(zip(REASONS, bad["rejects"].tolist()))["nonfinite"] == 2


def test_source_without_readable_windows_is_a_clear_error(tmp_path):
    write_station(tmp_path / "dead", dead=True, duration_s=60)
    cfg = tiny_config(tmp_path / "runs", **{"data.kind": "continuous", "data.paths": f"[{tmp_path / 'dead'}]"})
    with pytest.raises(DataError, match=r"no readable windows.*'flat': 64"):
        pretrain(cfg)


def test_gaps_and_nan_become_nonfinite_rejects(tmp_path):
    import obspy

    write_station(tmp_path / "gappy", duration_s=120)
    for f in (tmp_path / "gappy").iterdir():
        st = obspy.read(str(f))
        st[0].data[1000:3000] = np.nan  # NaN samples: split into gaps, then never zero-filled
        st.write(str(f), format="MSEED", encoding="FLOAT32")
    from seisforge.train.pretrain.windows import open_source

    cfg = tiny_config(tmp_path, **{"data.kind": "continuous", "data.paths": f"[{tmp_path / 'gappy'}]"}).data
    src = open_source(cfg, 0)
    arr = src.unit_array(0)
    assert np.isnan(arr[:, 1000:3000]).all() and np.isfinite(arr[:, :1000]).all()
    ds = WindowDataset(src, cfg, seed=0, n=32)
    items = [ds[i] for i in range(32)]
    assert sum(dict(zip(REASONS, it["rejects"].tolist()))["nonfinite"] for it in items) > 0
    valid = [it for it in items if it["valid"]]
    assert len(valid) > 16 and all(np.isfinite(it["x"].numpy()).all() for it in valid)
