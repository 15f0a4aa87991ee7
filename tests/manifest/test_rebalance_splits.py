"""Rebalancing policies and split modes on metadata-only synthetic manifests (no waveforms needed)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from seisforge.cli import main
from seisforge.data.bins import interval_bins
from seisforge.data.manifest import ManifestConfig, manifest_from_metadata
from seisforge.data.manifest_io import read_manifest, write_manifest
from seisforge.data.rebalance import RebalanceConfig, rebalance
from seisforge.data.splits import assign_station_splits, assign_time_splits, events_in_several_splits
from seisforge.data.synthetic import synthetic_metadata
from seisforge.errors import ConfigError


@pytest.fixture(scope="module")
def metas():
    return [(f"ds{k}", synthetic_metadata(6000 * (k + 1), f"ds{k}", seed=k, chunks=2), f"synthetic:{k}")
            for k in range(3)]


def _build(metas, **rebalance_kw):
    cfg = ManifestConfig()
    cfg.rebalance = RebalanceConfig(**rebalance_kw)
    return manifest_from_metadata(metas, cfg)


def _fractions(df, col="distance_bin", weighted=False):
    q = df[df["category"] == "earthquake"]
    w = q["weight"] if weighted else pd.Series(1.0, index=q.index)
    return (w.groupby(q[col]).sum() / w.sum()).to_dict()


TARGETS = {"local": 0.4, "regional": 0.35, "teleseismic": 0.25}


def test_subsample_hits_distance_targets_within_2pp(metas):
    df, report = _build(metas, mode="subsample", targets={"distance": TARGETS})
    got = _fractions(df)
    for b, t in TARGETS.items():
        assert abs(got[b] - t) <= 0.02
    rows = report["rebalance"]["targets"]["distance"]
    assert all(r["within_tolerance"] for r in rows.values())
    assert report["dropped"]["rebalance_subsampled"] > 0
    # noise traces are not rebalanced, and every removal is counted
    assert report["rows_in"] - report["rows_out"] == report["dropped_total"]
    assert (df["category"] == "noise").sum() == sum((m["trace_category"] == "noise").sum() for _, m, _ in metas)


def test_joint_targets_and_weight_mode(metas):
    targets = {"distance": TARGETS, "magnitude": {"<2": 0.5, "[2,4)": 0.4, ">=4": 0.1},
               "dataset": {"ds0": 0.3, "ds1": 0.3, "ds2": 0.4}}
    df, report = _build(metas, mode="subsample", targets=targets)
    for axis, col in (("distance", "distance_bin"), ("dataset", "dataset")):
        got = _fractions(df, col)
        assert all(abs(got[b] - t) <= 0.02 for b, t in targets[axis].items()), (axis, got)
    mags = pd.Series(interval_bins([2, 4]).label(df.loc[df["category"] == "earthquake", "magnitude"].to_numpy()))
    got = mags.value_counts(normalize=True)
    assert all(abs(got[b] - t) <= 0.02 for b, t in targets["magnitude"].items())
    # weight mode keeps every earthquake trace and puts the targets into the weights (no repetition)
    dfw, rw = _build(metas, mode="weight", targets={"distance": TARGETS})
    assert not dfw.duplicated(["dataset", "chunk", "trace_name"]).any()
    assert rw["rebalance"]["oversampling"] == "weight (no repetition)"
    got = _fractions(dfw, weighted=True)
    assert all(abs(got[b] - t) <= 0.02 for b, t in TARGETS.items())
    assert dfw.loc[dfw["category"] == "earthquake", "weight"].mean() == pytest.approx(1.0)
    assert rw["dropped"] == {}  # weighting removes nothing


def test_report_says_where_targets_cannot_be_met(metas):
    only_local = [(n, m[(m["path_ep_distance_km"] < 150) | m["path_ep_distance_km"].isna()], s) for n, m, s in metas]
    df, report = _build(only_local, mode="subsample", targets={"distance": TARGETS})
    rows = report["rebalance"]["targets"]["distance"]
    assert not rows["regional"]["within_tolerance"] and rows["regional"]["reason"] == "no traces in this bin"
    from seisforge.data.manifest_io import report_markdown

    assert "| regional | 0.350 | 0.000 | False | no traces in this bin |" in report_markdown(report)


def test_caps_s_policies_and_determinism(metas):
    df, report = _build(metas, mode="none", caps={"ds2": 5000})
    full, _ = _build(metas)
    ds2 = df[df["dataset"] == "ds2"]
    assert len(ds2) == 5000 and report["dropped"]["dataset_cap"] == (full["dataset"] == "ds2").sum() - 5000
    before = full[full["dataset"] == "ds2"]["distance_bin"].value_counts(normalize=True)
    after = ds2["distance_bin"].value_counts(normalize=True)
    assert (before - after).abs().max() < 0.005  # proportional within the dataset's own bins
    assert (df[df["dataset"] != "ds2"].shape[0]) == (full["dataset"] != "ds2").sum()
    # S-balanced: local earthquake traces need a valid S; teleseismic S are nulled
    df, report = _build(metas, s_required_in=["local"], null_teleseismic_s=True)
    q = df[df["category"] == "earthquake"]
    assert q.loc[q["distance_bin"] == "local", "s_sample"].notna().all()
    assert q.loc[q["distance_bin"] == "teleseismic", "s_sample"].isna().all()
    assert q.loc[q["distance_bin"] == "teleseismic", "source_phase_column"].str.endswith(";").all()
    assert report["dropped"]["s_required_no_valid_s"] > 0
    assert report["rebalance"]["teleseismic_s_nulled"] > 0
    # deterministic, and independent of the input row order
    a, _ = _build(metas, mode="subsample", targets={"distance": TARGETS}, caps={"ds2": 5000}, seed=4)
    shuffled = [(n, m.sample(frac=1.0, random_state=1), s) for n, m, s in metas]
    b, _ = _build(shuffled, mode="subsample", targets={"distance": TARGETS}, caps={"ds2": 5000}, seed=4)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    c, _ = _build(metas, mode="subsample", targets={"distance": TARGETS}, caps={"ds2": 5000}, seed=5)
    assert set(a["trace_name"] + a["chunk"] + a["dataset"]) != set(c["trace_name"] + c["chunk"] + c["dataset"])


def test_rebalance_config_validation():
    with pytest.raises(ConfigError, match="unknown axis"):
        RebalanceConfig(mode="subsample", targets={"region": {"a": 1.0}})
    with pytest.raises(ConfigError, match="mode is 'none'"):
        RebalanceConfig(targets={"distance": {"local": 1.0}})
    with pytest.raises(ConfigError, match="s_required_in"):
        RebalanceConfig(s_required_in=["near"])
    drops: dict = {}
    empty = pd.DataFrame(columns=["dataset", "chunk", "trace_name", "category", "distance_bin", "s_sample",
                                  "p_sample", "weight", "source_phase_column"])
    out, _ = rebalance(empty, RebalanceConfig(), drops)
    assert out.empty and drops == {}


def test_split_modes(metas, tmp_path):
    df, report = manifest_from_metadata(metas, ManifestConfig())
    # the synthetic metadata has random (trace-level) splits: the report says events straddle splits
    assert report["split"]["events_in_several_splits"] > 0
    path = tmp_path / "m.parquet"
    write_manifest(df, report, path)
    for by in ("event", "station", "time"):
        out = tmp_path / f"{by}.parquet"
        assert main(["data", "split", str(path), "--by", by, "--seed", "1", "--out", str(out)]) == 0
        s = read_manifest(out)
        assert events_in_several_splits(s["event_key"], s["split"]) == []
        frac = s["split"].value_counts(normalize=True)
        if by == "station":
            # stations are held out; traces of an event at stations of another split are removed, counted
            assert (s.groupby("station_key")["split"].nunique() == 1).all()
            rep = json.loads((tmp_path / "station.report.json").read_text())
            assert len(s) + rep["dropped"]["split_event_station_conflict"] == len(df)
            continue
        assert abs(frac["train"] - 0.6) < 0.05 and abs(frac["test"] - 0.2) < 0.05, (by, frac)
        if by == "time":
            t = s[s["event_time"].notna()]
            assert t.loc[t["split"] == "train", "event_time"].max() <= t.loc[t["split"] == "dev", "event_time"].min()
            assert t.loc[t["split"] == "dev", "event_time"].max() <= t.loc[t["split"] == "test", "event_time"].min()


def test_station_and_time_split_functions():
    stations = np.array(["A", "A", "B", "B", "C", "C", "D", "E"])
    events = np.array(["e1", "e2", "e1", "e3", "e2", "e4", "", ""])
    split, conflict = assign_station_splits(stations, events, (0.5, 0.25, 0.25), seed=0)
    kept = ~conflict
    assert events_in_several_splits(events[kept], split[kept]) == []
    for st in np.unique(stations):
        assert len(set(split[stations == st])) == 1
    times = pd.to_datetime(["2020-01-03", "2020-01-01", "2020-01-03", "2020-01-02", None, "2020-01-04"])
    ev = np.array(["c", "a", "c", "b", "", "d"])
    split, untimed = assign_time_splits(ev, times, (0.5, 0.25, 0.25))
    assert list(untimed) == [False, False, False, False, True, False]
    order = {"train": 0, "dev": 1, "test": 2}
    timed = [(t, order[s]) for t, s, u in zip(times, split, untimed) if not u]
    assert [o for _, o in sorted(timed)] == sorted(o for _, o in timed)


def test_benchmark_script_small():
    """benchmarks/bench_manifest.py runs end to end (the 1,000,000-row timing is in docs/datasets.md)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks/bench_manifest.py"
    spec = importlib.util.spec_from_file_location("bench_manifest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.run(rows=20_000, datasets=5)
    assert r["rows_in"] == 20_000 and 0 < r["rows_out"] < 20_000
    assert all(v["within_tolerance"] for v in r["targets"].values())
