"""Data sources: SeisBench datasets, PhaseNet npz conversion, splits, synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seisforge.data.phasenet_npz import convert_phasenet_npz, parse_name
from seisforge.data.sources import open_dataset, trace_keys
from seisforge.data.splits import assign_event_splits
from seisforge.data.synthetic import SynthConfig, synthesize, travel_time
from seisforge.errors import DataError


def test_chunked_dataset_keys_are_unique(shared):
    ds = open_dataset(shared / "data/seisbench_chunked_dummy")
    meta = ds.metadata
    assert meta["trace_name"].duplicated().any()  # names repeat across chunks ...
    assert not trace_keys(meta).duplicated().any()  # ... but the key does not
    assert set(meta["trace_chunk"]) == {"0", "1"}


def test_missing_and_corrupt_hdf5(tmp_path, shared):
    import shutil

    src = shared / "data/seisbench_dummy"
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(src / "metadata.csv", bad / "metadata.csv")
    with pytest.raises(DataError, match="missing HDF5"):
        open_dataset(bad)
    (bad / "waveforms.hdf5").write_bytes(b"not an hdf5 file")
    with pytest.raises(DataError, match="corrupt or unreadable HDF5"):
        open_dataset(bad)
    with pytest.raises(DataError, match="not found"):
        open_dataset(tmp_path / "nope")


def test_event_splits_never_share_events():
    rng = np.random.default_rng(0)
    ev = rng.integers(0, 40, size=300).astype(str)
    splits = assign_event_splits(ev, (0.6, 0.2, 0.2), seed=3)
    df = pd.DataFrame({"ev": ev, "split": splits})
    assert (df.groupby("ev")["split"].nunique() == 1).all()
    frac = df["split"].value_counts(normalize=True)
    assert abs(frac["train"] - 0.6) < 0.1 and abs(frac["test"] - 0.2) < 0.1
    assert (assign_event_splits(ev[::-1], (0.6, 0.2, 0.2), seed=3) == splits[::-1]).all()  # order-free


def test_parse_phasenet_name():
    info = parse_name("NC_MTU_2014071807051236_02")
    assert info == {"net": "NC", "sta": "MTU", "origin": "2014-07-18T07:05:12.36", "source_id": "ev2014071807051236"}
    with pytest.raises(DataError):
        parse_name("garbage")


def test_convert_ncedc(tmp_path, shared):
    src = shared / "data/ncedc_phasenet_sample"
    out = tmp_path / "ncedc"
    report = convert_phasenet_npz(src, "picks.csv", out, seed=1)
    ds = open_dataset(out)
    meta = ds.metadata
    assert len(meta) == report.processed == 101
    assert set(meta["split"]) == {"train", "dev", "test"}
    assert (meta.groupby("source_id")["split"].nunique() == 1).all()
    # ZNE order: compare with the npz's E,N,Z columns
    name = meta["trace_name_original"].iloc[0]
    raw = np.load(src / "waveforms" / f"{name}.npz")["data"]
    wave = ds.get_waveforms(0)
    np.testing.assert_allclose(wave[0], raw[:, 2], rtol=1e-6)
    np.testing.assert_allclose(wave[2], raw[:, 0], rtol=1e-6)
    # dead components are recorded, not hidden
    dead = meta["trace_dead_components"].fillna("")
    assert (dead != "").sum() == report.to_dict()["handled"]["dead_component_recorded"] > 0
    i = int(np.flatnonzero(dead.to_numpy() != "")[0])
    for c in dead.iloc[i]:
        assert not np.any(ds.get_waveforms(i)["ZNE".index(c)])
    assert (meta["trace_p_arrival_sample"] == 3000).all()


def test_convert_errors_and_counts(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    good = np.zeros((9001, 3))
    good[:, 2] = np.sin(np.arange(9001))
    np.savez(src / "NC_AAA_2014071807051236.npz", data=good, channels="EHZ")
    nan = good.copy()
    nan[5, 0] = np.nan
    np.savez(src / "NC_BBB_2014071807051236.npz", data=nan)
    (src / "NC_CCC_2014071807051236.npz").write_bytes(b"corrupt")
    pd.DataFrame({"fname": ["NC_AAA_2014071807051236.npz"], "itp": [3000]}).to_csv(src / "p1.csv", index=False)
    with pytest.raises(DataError, match="missing pick column"):
        convert_phasenet_npz(src, src / "p1.csv", tmp_path / "o1")
    names = ["NC_AAA_2014071807051236.npz", "NC_BBB_2014071807051236.npz", "NC_CCC_2014071807051236.npz",
             "NC_DDD_2014071807051236.npz", "../escape.npz"]
    pd.DataFrame({"fname": names, "itp": 3000, "its": 3500}).to_csv(src / "p2.csv", index=False)
    rep = convert_phasenet_npz(src, src / "p2.csv", tmp_path / "o2", split="test").to_dict()
    assert rep["processed"] == 1
    assert rep["failed"] == {"nonfinite_samples": 1, "corrupt_npz": 1, "missing_file": 1, "path_escapes_root": 1}


def test_travel_time_model():
    # straight down at the epicentre: t ~ z / mean velocity
    t = travel_time(np.array(0.0), np.array(10.0), "P")
    assert 10 / 5.75 * 0.99 < t < 10 / 5.5
    assert travel_time(np.array(50.0), np.array(10.0), "S") > travel_time(np.array(50.0), np.array(10.0), "P")


def test_synthetic_physics(tmp_path):
    out = tmp_path / "syn"
    synthesize(SynthConfig(events=40, noise_traces=10, seed=5, second_event_prob=0.3), out)
    ds = open_dataset(out)
    meta = ds.metadata
    for col in ("source_id", "source_magnitude", "source_depth_km", "path_ep_distance_km", "trace_snr_db", "split"):
        assert col in meta.columns
    eq = meta[meta["trace_category"] == "earthquake"]
    assert (eq.groupby("source_id")["split"].nunique() == 1).all()
    assert (eq["trace_s_arrival_sample"] > eq["trace_p_arrival_sample"]).all()
    assert (meta["trace_category"] == "noise").sum() == 10
    assert eq["trace_multiplet"].any() and eq["trace_p2_arrival_sample"].notna().any()
    # P dominates Z, S dominates the horizontals (energy in 1 s after onset, high-SNR traces)
    ratios_p, ratios_s = [], []
    for i in np.flatnonzero((meta["trace_category"] == "earthquake") & (meta["trace_snr_db"] > 15)):
        w = ds.get_waveforms(int(i))
        p, s = int(meta["trace_p_arrival_sample"].iloc[i]), int(meta["trace_s_arrival_sample"].iloc[i])
        if s + 100 > w.shape[1] or s - p < 150:
            continue
        seg_p, seg_s = w[:, p:p + 100] ** 2, w[:, s:s + 100] ** 2
        ratios_p.append(seg_p[0].sum() / seg_p[1:].sum(axis=1).mean())
        ratios_s.append(seg_s[1:].sum(axis=1).mean() / seg_s[0].sum())
    assert len(ratios_p) >= 5
    assert np.median(ratios_p) > 2 and np.median(ratios_s) > 2
