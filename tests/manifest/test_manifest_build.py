"""Manifest building on real SeisBench-written datasets, the NCEDC sample and hand-made QC cases."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import event_trace, names_by_original, write_dataset

from seisforge.cli import main
from seisforge.config import load_config
from seisforge.data.bins import DISTANCE
from seisforge.data.manifest import ManifestConfig, build_manifest
from seisforge.data.manifest_columns import MANIFEST_COLUMNS, event_keys, manifest_columns
from seisforge.data.manifest_io import read_manifest, write_manifest
from seisforge.errors import ConfigError, DataError
from seisforge.runinfo import sha256_file


def test_manifest_from_real_dummies_cli(shared, tmp_path):
    out = tmp_path / "m.parquet"
    assert main(["data", "manifest", "--dataset", str(shared / "data/seisbench_dummy"), "--dataset",
                 str(shared / "data/seisbench_chunked_dummy"), "--out", str(out)]) == 0
    df = read_manifest(out)
    assert list(df.columns) == MANIFEST_COLUMNS
    assert not df.duplicated(["dataset", "chunk", "trace_name"]).any()
    chunked = df[df["dataset"] == "seisbench_chunked_dummy"]
    assert chunked["trace_name"].duplicated().any() and set(chunked["chunk"]) == {"0", "1"}
    # the dummy holds the same waveforms as one chunk of the chunked dummy: caught by hash and dropped
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert report["qc"]["flag_counts"]["duplicate_waveform"] == 100
    assert report["dropped"] == {"qc_duplicate_waveform": 100}
    assert report["rows_in"] == 300 and report["rows_out"] == len(df) == 200
    assert set(df["dataset"]) == {"seisbench_chunked_dummy"}  # first copy in key order kept
    # no source_id / origin time: hypocentre fallback, shared by all traces of one event
    assert df["event_key"].str.startswith("src:").all()
    assert report["datasets"]["seisbench_dummy"]["event_key_source"] == {"hypocentre": 100}
    assert (df["category"] == "earthquake").all() and (df["station_key"] == "CX.PB01").all()
    assert df["distance_km"].notna().all() and set(df["distance_bin"]) <= {"local", "regional"}
    assert (df["sampling_rate"] == 20).all() and df["p_sample"].isna().all()
    assert set(df["split"]) == {"train", "dev", "test"}
    # side files: sha256 of the exact bytes, Markdown report with before/after tables
    line = (tmp_path / "m.sha256").read_text().splitlines()[0]
    assert line == f"{sha256_file(out)}  m.parquet"
    md = (tmp_path / "m.report.md").read_text()
    assert "Counts before" in md and "qc_duplicate_waveform: 100" in md
    # provenance travels inside the Parquet file
    _, prov = read_manifest(out, with_provenance=True)
    assert prov["datasets"]["seisbench_dummy"].endswith("seisbench_dummy")


def test_manifest_is_deterministic(shared, tmp_path):
    src = [("dummy", str(shared / "data/seisbench_chunked_dummy"))]
    cfg = ManifestConfig()
    cfg.split.by = "event"
    cfg.rebalance.mode = "subsample"
    cfg.rebalance.targets = {"distance": {"local": 0.8, "regional": 0.2}}
    a = write_manifest(*build_manifest(cfg, sources=src), tmp_path / "a.parquet")
    b = write_manifest(*build_manifest(cfg, sources=src), tmp_path / "b.parquet")
    assert sha256_file(a["parquet"]) == sha256_file(b["parquet"])
    cfg.rebalance.seed = 1
    write_manifest(*build_manifest(cfg, sources=src), tmp_path / "c.parquet")
    assert (tmp_path / "a.sha256").read_text().split()[0] != (tmp_path / "c.sha256").read_text().split()[0]


def test_ncedc_sample_manifest(shared, tmp_path):
    from seisforge.data.phasenet_npz import convert_phasenet_npz

    src = shared / "data/ncedc_phasenet_sample"
    conv = convert_phasenet_npz(src, src / "picks.csv", tmp_path / "ncedc").to_dict()
    df, report = build_manifest(ManifestConfig(), sources=[("ncedc", str(tmp_path / "ncedc"))])
    assert len(df) == 101 and (df["p_sample"] == 3000).all() and (df["s_sample"] > 3000).all()
    assert (df["source_phase_column"] == "trace_p_arrival_sample;trace_s_arrival_sample").all()
    assert df["event_key"].str.startswith("ev").all() and df["event_time"].notna().all()
    assert df["station_key"].str.match(r"^[A-Z]{2}\.\w+$").all()
    assert df["distance_bin"].eq("unknown").all()  # the npz files carry no distances
    # the converter recorded dead components; QC flags the same traces (kept by default policy)
    n_dead = conv["handled"].get("dead_component_recorded", 0)
    assert n_dead > 0 and report["qc"]["flag_counts"]["dead_component"] == n_dead
    assert df["qc_flags"].str.contains("dead_component").sum() == n_dead


def _qc_dataset(tmp_path):
    rng = np.random.default_rng(0)
    traces = [event_trace(f"ok{i}", rng) for i in range(4)]
    m, x = event_trace("has_nan", rng)
    x[1, 100] = np.nan
    traces.append((m, x))
    m, x = event_trace("dead", rng)
    x[2] = 0
    traces.append((m, x))
    m, x = event_trace("flat", rng)
    x[1] = 3.0
    traces.append((m, x))
    m, x = event_trace("clip", rng)
    x[0] = np.clip(x[0], -0.5, 0.5)
    traces.append((m, x))
    m, x = event_trace("gap", rng)
    x[:, :500] = 0.0  # zero-padded start on all components
    traces.append((m, x))
    m, _ = event_trace("dup", rng)
    traces.append((m, traces[0][1].copy()))
    return write_dataset(tmp_path / "qc", traces)


def test_qc_flags_and_policies(tmp_path):
    path = _qc_dataset(tmp_path)
    names = {v: k for k, v in names_by_original(path).items()}
    cfg = ManifestConfig()
    df, report = build_manifest(cfg, sources=[("qc", str(path))])
    flags = {names[n]: f for n, f in zip(df["trace_name"], df["qc_flags"])}
    assert "has_nan" not in flags and "dup" not in flags  # default policy drops them ...
    assert report["dropped"] == {"qc_nonfinite": 1, "qc_duplicate_waveform": 1}  # ... and counts them
    assert flags["dead"] == "dead_component" and flags["flat"] == "flat_component"
    assert flags["clip"] == "clipped" and flags["gap"] == "zero_gap"
    assert all(flags[f"ok{i}"] == "" for i in range(4))
    cfg.qc.policy = {"nonfinite": "keep", "duplicate_waveform": "keep", "clipped": "drop"}
    cfg.qc.__post_init__()
    df, report = build_manifest(cfg, sources=[("qc", str(path))])
    flags = {names[n]: f for n, f in zip(df["trace_name"], df["qc_flags"])}
    assert flags["has_nan"] == "nonfinite" and flags["dup"] == "duplicate_waveform" and "clip" not in flags
    assert report["dropped"] == {"qc_clipped": 1}
    cfg.qc.policy["dead_component"] = "error"
    with pytest.raises(DataError, match="dead_component"):
        build_manifest(cfg, sources=[("qc", str(path))])


def test_columns_event_key_fallbacks_and_bins():
    meta = pd.DataFrame({
        "trace_name": ["a", "b", "c", "d"],
        "source_id": ["ev1", "", np.nan, np.nan],
        "source_origin_time": [np.nan, "2020-01-01T00:00:00.4", "2020-01-01T00:00:00.6", np.nan],
        "source_latitude_deg": [1.0, 10.123, 10.123, np.nan],
        "source_longitude_deg": [2.0, 20.0, 20.0, np.nan],
        "trace_Pg_arrival_sample": [500, 300, np.nan, np.nan],
        "trace_Pn_arrival_sample": [400, np.nan, np.nan, np.nan],
        "trace_p2_arrival_sample": [100, np.nan, np.nan, np.nan],  # a second event: not the first P
        "trace_snr_db": ["[3.0 5.0 7.0]", "2", np.nan, np.nan],
        "path_ep_distance_km": [10, 150, 1600, np.nan],
    })
    keys, how = event_keys(meta, "x")
    assert list(how) == ["id", "origin", "origin", "trace"]
    assert keys[1] == "ot:2020-01-01T00:00:00|10.12|20.0" and keys[2] == "ot:2020-01-01T00:00:01|10.12|20.0"
    assert keys[3] == "trace:x||d"
    df, stats = manifest_columns(meta, "x")
    assert df["p_sample"].iloc[0] == 400 and df["source_phase_column"].iloc[0] == "trace_Pn_arrival_sample;"
    assert list(df["snr_db"].iloc[:2]) == [5.0, 2.0]
    assert list(df["distance_bin"]) == ["local", "regional", "teleseismic", "unknown"]
    assert list(df["category"]) == ["earthquake", "earthquake", "earthquake", "noise"]
    assert df["event_key"].iloc[3] == ""  # a noise trace belongs to no event
    assert list(DISTANCE.label(np.array([149.9, 1500.0, 1500.1]))) == ["local", "regional", "teleseismic"]


def test_config_errors(tmp_path, shared):
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [{source: x}]\nrebalanse: {}\n")
    with pytest.raises(ConfigError, match="rebalanse"):
        load_config(ManifestConfig, bad)
    bad.write_text("rebalance: {mode: subsample, targets: {distance: {local: 0.5, regional: 0.4}}}\n")
    with pytest.raises(ConfigError, match="sum to 1"):
        load_config(ManifestConfig, bad)
    esc = tmp_path / "esc.yaml"
    esc.write_text("datasets: [{source: ../../etc}]\n")
    assert main(["data", "manifest", str(esc), "--out", str(tmp_path / "m.parquet")]) == 2  # escapes root
    ok = tmp_path / "ok.yaml"
    ok.write_text(f"data_root: {shared / 'data'}\ndatasets: [{{source: seisbench_dummy, name: dummy}}]\n"
                  "qc: {enabled: false}\nsplit: {by: event, seed: 3}\n")
    assert main(["data", "manifest", str(ok), "--out", str(tmp_path / "m.parquet")]) == 0
    df = read_manifest(tmp_path / "m.parquet")
    assert set(df["dataset"]) == {"dummy"} and (df["qc_flags"] == "").all()
    assert main(["data", "manifest", "--dataset", str(shared / "data/seisbench_dummy"), "--out",
                 str(tmp_path / "m.csv")]) == 2


def test_config_file_paths_stay_under_the_config_folder(tmp_path, shared):
    cfg = tmp_path / "m.yaml"
    cfg.write_text(f"data_root: {shared / 'data'}\ndatasets: [{{source: seisbench_dummy}}]\n"
                   "drop_flags: ../elsewhere/flags.parquet\n")
    assert main(["data", "manifest", str(cfg), "--out", str(tmp_path / "m.parquet")]) == 2
    assert not (tmp_path / "m.parquet").exists()


def test_read_manifest_rejects_bad_files(tmp_path):
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(DataError, match="not a seisforge manifest"):
        read_manifest(tmp_path / "x.parquet")
    (tmp_path / "y.parquet").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable Parquet"):
        read_manifest(tmp_path / "y.parquet")
    row = {c: [""] for c in MANIFEST_COLUMNS}
    pd.concat([pd.DataFrame(row)] * 2).to_parquet(tmp_path / "z.parquet")
    with pytest.raises(DataError, match="duplicate keys"):
        read_manifest(tmp_path / "z.parquet")
