"""Leakage audit with seeded trace, event and station overlaps; --exclude-bench; the training refusal API."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import event_trace, write_dataset

from seisforge.bench.picking.targets import generate_targets
from seisforge.cli import main
from seisforge.data.leakage import check_leakage, domain_label, enforce_no_leakage
from seisforge.data.manifest_io import read_manifest
from seisforge.data.synthetic import SynthConfig, synthesize
from seisforge.data.targets_io import load_targets
from seisforge.errors import LeakageError

N_SHARED_EVENTS = 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A training set, a benchmark set with targets, and a dataset re-recording benchmark events."""
    root = tmp_path_factory.mktemp("leak")
    synthesize(SynthConfig(events=16, noise_traces=4, seed=31), root / "trainset")
    synthesize(SynthConfig(events=12, noise_traces=4, seed=32), root / "benchset")
    generate_targets(root / "benchset", root / "targets", splits=("train", "dev", "test"))
    bench_meta = pd.read_csv(root / "benchset/metadata.csv")
    shared_events = sorted(bench_meta["source_id"].dropna().unique())[:N_SHARED_EVENTS]
    rng = np.random.default_rng(0)
    traces = []
    for k, ev in enumerate(shared_events):  # same events, other traces (new names and waveforms)
        meta, x = event_trace(f"rerecorded{k}", rng, source_id=ev)
        meta.update(station_network_code="ZZ", station_code=f"Z{k}")
        traces.append((meta, x))
    write_dataset(root / "rerecorded", traces)

    def manifest(name, *datasets, extra=()):
        args = ["data", "manifest", "--out", str(root / f"{name}.parquet"), *extra]
        for d in datasets:
            args += ["--dataset", str(root / d)]
        assert main(args) == 0
        return root / f"{name}.parquet"

    return root, manifest


def test_clean_manifest_exits_0_and_reports_stations(setup, capsys):
    root, manifest = setup
    m = manifest("clean", "trainset")
    assert main(["data", "audit-leakage", "--train", str(m), "--bench", str(root / "targets"), "--bench-dataset",
                 str(root / "benchset"), "--report", str(root / "clean_audit.json")]) == 0
    rep = json.loads((root / "clean_audit.json").read_text())
    assert rep["traces"]["count"] == 0 and rep["events"]["count"] == 0 and rep["domain"] == "cross-domain"
    # both synthetic sets use the stations SY.Sxx: station overlap is reported, not an error
    assert rep["stations"]["available"] and rep["stations"]["count"] > 0
    assert "clean (cross-domain)" in capsys.readouterr().out


def test_seeded_event_overlap_exits_3(setup):
    root, manifest = setup
    m = manifest("events", "trainset", "rerecorded")
    assert main(["data", "audit-leakage", "--train", str(m), "--bench", str(root / "targets"),
                 "--report", str(root / "ev.json")]) == 3
    rep = json.loads((root / "ev.json").read_text())
    assert rep["traces"]["count"] == 0
    assert rep["events"]["count"] == N_SHARED_EVENTS and rep["events"]["manifest_rows"] == N_SHARED_EVENTS
    assert not rep["stations"]["available"]  # targets alone carry no station codes


def test_seeded_trace_overlap_exits_3_and_bench_manifest_works(setup):
    root, manifest = setup
    m = manifest("traces", "trainset", "benchset")
    rep = check_leakage(read_manifest(m), root / "targets")
    t = load_targets(root / "targets")
    target_traces = set(pd.concat([t["1"]["trace_name"], t["23"]["trace_name"]]))
    assert rep["traces"]["count"] == len(target_traces) and rep["overlap"]
    assert domain_label(rep) == "in-domain"
    # a benchmark given as a manifest
    b = manifest("bench_manifest", "benchset")
    assert main(["data", "audit-leakage", "--train", str(m), "--bench", str(b)]) == 3
    rep = check_leakage(read_manifest(m), b, splits=["train"])
    assert rep["rows_checked"] == (read_manifest(m)["split"] == "train").sum()


def test_exclude_bench_removes_every_overlap(setup):
    root, manifest = setup
    m = manifest("excluded", "trainset", "benchset", "rerecorded",
                 extra=["--exclude-bench", str(root / "targets"), "--bench-dataset", str(root / "benchset"),
                        "--exclude-bench-stations"])
    rep = json.loads((root / "excluded.report.json").read_text())
    dropped = rep["dropped"]
    assert dropped["exclude_bench_trace"] > 0 and dropped["exclude_bench_event"] >= N_SHARED_EVENTS
    assert main(["data", "audit-leakage", "--train", str(m), "--bench", str(root / "targets"), "--bench-dataset",
                 str(root / "benchset"), "--report", str(root / "after.json")]) == 0
    after = json.loads((root / "after.json").read_text())
    assert after["stations"]["count"] == 0 and after["traces"]["count"] == 0 and after["events"]["count"] == 0
    assert (read_manifest(m)["dataset"] != "benchset").all()


def test_training_refusal_api(setup):
    root, manifest = setup
    df = read_manifest(manifest("refuse", "trainset", "rerecorded"))
    with pytest.raises(LeakageError) as err:
        enforce_no_leakage(df, root / "targets")
    assert err.value.exit_code == 3 and "override" in str(err.value)
    rep = enforce_no_leakage(df, root / "targets", allow_overlap=True)
    assert rep["override"] is True and rep["domain"] == "in-domain"
    clean = read_manifest(manifest("clean2", "trainset"))
    rep = enforce_no_leakage(clean, root / "targets")
    assert rep["override"] is False and rep["domain"] == "cross-domain"


def test_chunked_targets_match_by_chunk(shared, tmp_path):
    """Trace names repeat across chunks: only the chunk the target names is an overlap."""
    ds = shared / "data/seisbench_chunked_dummy"
    generate_targets(ds, tmp_path / "targets", splits=("test",), sampling_rate=20.0)
    t = load_targets(tmp_path / "targets")["1"]
    m = tmp_path / "m.parquet"
    assert main(["data", "manifest", "--dataset", str(ds), "--out", str(m), "--set", "qc.enabled=false"]) == 0
    df = read_manifest(m)
    only0 = df[df["chunk"] == "0"]
    rep = check_leakage(only0, tmp_path / "targets")
    n0 = t.loc[t["trace_chunk"].astype(str) == "0", "trace_name"].nunique()
    assert n0 > 0 and rep["traces"]["count"] == n0
    # targets on chunk 1 only: same names as chunk-0 traces in the manifest, but no overlap
    (tmp_path / "t1").mkdir()
    t[t["trace_chunk"].astype(str) == "1"].to_csv(tmp_path / "t1/task1.csv", index=False)
    assert set(t.loc[t["trace_chunk"].astype(str) == "1", "trace_name"]) <= set(only0["trace_name"])
    rep = check_leakage(only0, tmp_path / "t1")
    assert rep["traces"]["count"] == 0
