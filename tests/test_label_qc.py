"""Label QC: a P or S pick outside ``[0, n_samples)`` is flagged and handled by policy, never stored silently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import label_table_dataset

from seisforge.data.manifest import ManifestConfig, build_manifest
from seisforge.data.phasenet_npz import convert_phasenet_npz
from seisforge.data.quality import QcConfig
from seisforge.data.sources import open_dataset
from seisforge.errors import ConfigError, DataError

# (name, n_samples, itp, its): fine, P beyond the end, negative P, P at 3000 on a 200-sample trace, S beyond
NPZ = [("NC_AAA_2014071807051236", 6000, 3000, 3500), ("NC_BBB_2014071807051237", 6000, 7000, 8000),
       ("NC_CCC_2014071807051238", 6000, -50, 3600), ("NC_DDD_2014071807051239", 200, 3000, np.nan),
       ("NC_EEE_2014071807051240", 6000, 1000, 6000)]


def _npz_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    for name, n, _, _ in NPZ:
        np.savez(src / f"{name}.npz", data=rng.normal(size=(n, 3)), channels="EHE,EHN,EHZ")
    pd.DataFrame({"fname": [f"{r[0]}.npz" for r in NPZ], "itp": [r[2] for r in NPZ],
                  "its": [r[3] for r in NPZ]}).to_csv(src / "picks.csv", index=False)
    return src


def test_convert_drop_pick_counts_and_flags(tmp_path):
    src = _npz_folder(tmp_path)
    rep = convert_phasenet_npz(src, "picks.csv", tmp_path / "out", split="test").to_dict()
    assert rep["processed"] == 5
    assert rep["handled"]["pick_outside_trace_dropped"] == 5  # B: P and S, C: P, D: P, E: S
    assert rep["notes"]["pick_policy"] == "drop_pick"
    meta = open_dataset(tmp_path / "out").metadata
    meta = meta.set_index(meta["trace_name_original"].fillna(meta["trace_name"]))
    flagged = meta["trace_label_qc"].fillna("") == "pick_outside_trace"
    assert sorted(meta.index[flagged]) == [r[0] for r in NPZ[1:]]
    assert meta.loc["NC_AAA_2014071807051236", "trace_p_arrival_sample"] == 3000
    assert np.isnan(meta.loc["NC_BBB_2014071807051237", ["trace_p_arrival_sample", "trace_s_arrival_sample"]]
                    .to_numpy(dtype=float)).all()
    assert np.isnan(meta.loc["NC_CCC_2014071807051238", "trace_p_arrival_sample"])
    assert meta.loc["NC_CCC_2014071807051238", "trace_s_arrival_sample"] == 3600
    assert meta.loc["NC_EEE_2014071807051240", "trace_p_arrival_sample"] == 1000


def test_convert_drop_trace_and_error(tmp_path):
    src = _npz_folder(tmp_path)
    rep = convert_phasenet_npz(src, "picks.csv", tmp_path / "a", split="test", pick_policy="drop_trace").to_dict()
    assert rep["processed"] == 1 and rep["skipped"]["pick_outside_trace"] == 4
    with pytest.raises(DataError, match="outside the 6000-sample trace"):
        convert_phasenet_npz(src, "picks.csv", tmp_path / "b", split="test", pick_policy="error")
    with pytest.raises(ConfigError, match="--pick-policy"):
        convert_phasenet_npz(src, "picks.csv", tmp_path / "c", pick_policy="keep")


ROWS = [(6000, 3000.0, 3500.0, np.nan, np.nan, "train"),   # fine
        (6000, 7000.0, 8000.0, np.nan, np.nan, "train"),   # both beyond the end
        (6000, -50.0, 3500.0, np.nan, np.nan, "dev"),      # negative P
        (200, 3000.0, np.nan, np.nan, np.nan, "test"),     # P at 3000 on a 200-sample trace
        (6000, 1000.0, 1500.0, 9000.0, np.nan, "test")]    # second event beyond the end


def _manifest(tmp_path, policy: str, qc: bool = True):
    ds = label_table_dataset(tmp_path / f"ds_{policy}_{qc}", ROWS, seed=0)
    cfg = ManifestConfig(qc=QcConfig(enabled=qc, policy={"pick_outside_trace": policy}))
    return build_manifest(cfg, sources=[("lab", str(ds))])


def test_manifest_drop_pick(tmp_path):
    df, report = _manifest(tmp_path, "drop_pick")
    assert report["qc"]["flag_counts"]["pick_outside_trace"] == 4
    assert report["qc"]["picks_dropped_outside_trace"] == {"P": 3, "S": 1}
    assert len(df) == 5
    assert df["qc_flags"].str.contains("pick_outside_trace").sum() == 4
    p, s = df["p_sample"].to_numpy(dtype=float), df["s_sample"].to_numpy(dtype=float)
    assert sorted(p[np.isfinite(p)]) == [1000, 3000]  # 7000, -50 and 3000-on-200 dropped
    assert sorted(s[np.isfinite(s)]) == [1500, 3500, 3500]  # 8000 dropped
    assert ((p >= 0) | np.isnan(p)).all()


def test_manifest_drop_trace_and_error(tmp_path):
    df, report = _manifest(tmp_path, "drop_trace")
    assert len(df) == 1 and report["dropped"]["qc_pick_outside_trace"] == 4
    with pytest.raises(DataError, match="pick_outside_trace"):
        _manifest(tmp_path, "error")
    with pytest.raises(ConfigError, match="pick_outside_trace"):
        QcConfig(policy={"pick_outside_trace": "drop"})


def test_manifest_without_waveform_scan_still_catches_negative_picks(tmp_path):
    df, report = _manifest(tmp_path, "drop_pick", qc=False)
    assert report["qc"]["picks_dropped_outside_trace"] == {"P": 1, "S": 0}  # the negative one
    assert df["qc_flags"].str.contains("pick_outside_trace").sum() == 1


def test_converted_flagged_traces_never_give_noise_windows(tmp_path):
    """itp = -50 emptied by convert: the real P is still in the trace, so no noise window may come from it."""
    from seisforge.bench.picking.targets import generate_targets

    src = _npz_folder(tmp_path)
    convert_phasenet_npz(src, "picks.csv", tmp_path / "ds", split="test")
    for generator in ("seisforge", "pick-benchmark"):
        rep = generate_targets(tmp_path / "ds", tmp_path / generator, splits=("test",), generator=generator)
        t1 = pd.read_csv(tmp_path / generator / "task1.csv")
        meta = open_dataset(tmp_path / "ds").metadata
        flagged = set(meta.loc[meta["trace_label_qc"].fillna("") != "", "trace_name"])
        assert len(flagged) == 4
        assert not set(t1.loc[t1["trace_type"] == "noise", "trace_name"]) & flagged
        assert rep.to_dict()["skipped"]["noise_window_trace_has_flagged_pick"] >= 1
