"""``seisforge bench continuous``: scoring against a catalog, clustered CIs, false picks per station-hour."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from seisforge.bench.picking.continuous import (
    evaluation_rows,
    match_pick_frames,
    match_times,
    score_groups,
    unmatched_kinds,
)
from seisforge.cli import main
from seisforge.errors import DataError


def test_match_times_is_one_to_one_nearest_first():
    pairs = match_times(np.array([10.0, 10.3, 20.0]), np.array([10.2, 25.0]), tolerance=0.5)
    assert pairs == [(1, 0)]  # 10.3 is nearer to 10.2 than 10.0; 20.0 and 25.0 stay unmatched


def test_unmatched_picks_are_sorted_by_what_the_other_picker_has_near_them():
    def frame(rows):
        return pd.DataFrame(rows, columns=["trace_id", "phase", "time"])

    ref = frame([("A", "P", 10.0), ("A", "P", 20.0), ("A", "P", 20.3), ("A", "P", 40.0), ("B", "P", 40.1),
                 ("A", "S", 50.0)])
    est = frame([("A", "P", 10.05), ("A", "P", 20.02), ("A", "P", 30.0), ("A", "P", 40.2), ("A", "P", 50.1)])
    kinds = unmatched_kinds(ref, est, match_pick_frames(ref, est, 0.1), near_s=0.5)
    got = {(r.side, r.index): (r.kind, r.other_index) for r in kinds.itertuples(index=False)}
    assert got == {
        ("ref", 2): ("second_trigger", 1),  # a second trigger beside the matched 20.0 / 20.02 pair
        ("ref", 3): ("timing", 3),          # 40.0 against 40.2: the same arrival, 0.2 s apart
        ("ref", 4): ("detection", -1),      # trace B: nothing near on that trace
        ("ref", 5): ("detection", -1),      # S: the est pick at 50.1 is a P
        ("est", 2): ("detection", -1),
        ("est", 3): ("timing", 3),
        ("est", 4): ("detection", -1),
    }


def test_scores_on_hand_made_picks():
    cat = pd.DataFrame({"event_id": ["e1", "e1", "e2", "e2"], "trace_id": ["A.B."] * 4,
                        "phase": ["P", "S", "P", "S"], "time": [100.0, 105.0, 200.0, 206.0]})
    t = pd.to_datetime(pd.Series([100.1, 106.0, 200.0, 500.0]), unit="s", utc=True)
    picks = pd.DataFrame({"trace_id": ["A.B."] * 4, "phase": ["P", "S", "P", "P"], "peak_time": t})
    rows = evaluation_rows(cat, picks, tolerance=0.5)
    # P: 2 TP (100.1, 200.0) + 1 FP (500); S: 105 missed (106 is 1 s off) -> 1 FN, 1 FP; 206 missed
    res = score_groups(rows, ["phase"], n_boot=50, seed=0).set_index("phase")
    assert res.loc["P", "tp"] == 2 and res.loc["P", "false_picks"] == 1 and res.loc["P", "n_ref"] == 2
    assert res.loc["P", "precision"] == pytest.approx(2 / 3) and res.loc["P", "recall"] == 1.0
    assert res.loc["S", "tp"] == 0 and res.loc["S", "false_picks"] == 1 and res.loc["S", "recall"] == 0.0
    assert res.loc["all", "f1"] == pytest.approx(2 * 2 / (4 + 2 + 2))
    # the false S pick at 106 s belongs to event e1's cluster, the P at 500 s to none
    fp = rows[rows.kind == "fp"].set_index("phase")
    assert fp.loc["S", "event_id"] == "e1" and fp.loc["P", "event_id"] == ""


def test_bench_continuous_end_to_end(weights, tmp_path):
    from seisforge.testing import write_continuous

    write_continuous(tmp_path / "ev", ["XB.AAA.", "XB.BBB."], ["2024-06-01"], duration_s=900,
                     n_events_per_day=12, seed=5)
    write_continuous(tmp_path / "noise", ["XB.AAA.", "XB.BBB."], ["2024-06-02"], duration_s=900,
                     n_events_per_day=0, seed=6)
    base = ["pick", "--no-progress", "--model", "PhaseNetLight", "--weights", weights]
    assert main(base + ["--input", str(tmp_path / "ev" / "waveforms"), "--out", str(tmp_path / "p")]) == 0
    assert main(base + ["--input", str(tmp_path / "noise" / "waveforms"), "--out", str(tmp_path / "n"),
                        "--threshold-P", "0.05", "--threshold-S", "0.05"]) == 0
    assert main(["bench", "continuous", "--picks", str(tmp_path / "p"), "--catalog",
                 str(tmp_path / "ev" / "catalog.csv"), "--tolerance", "0.5", "--noise-only",
                 str(tmp_path / "n"), "--bootstrap", "100", "--out", str(tmp_path / "m")]) == 0
    m = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert m["n_catalog"] == 48 and m["n_events"] == 12
    by = {r["phase"]: r for r in m["per_phase"]}
    assert by["P"]["recall"] > 0.8  # the inserted events are found
    for r in m["per_phase"]:
        for k in ("precision", "recall", "f1"):
            assert r[f"{k}_ci_low"] <= r[k] <= r[f"{k}_ci_high"]
    noise = m["noise_only"]
    assert noise["station_hours"] == pytest.approx(0.5)
    n_noise = len(pd.read_parquet(tmp_path / "n" / "picks"))  # hive-partitioned dataset reads directly
    assert n_noise > 0  # low thresholds on pure noise do trigger: the figure is not trivially 0
    assert noise["false_picks_per_station_hour"] == pytest.approx(n_noise / 0.5)
    per_station = pd.read_csv(tmp_path / "m" / "per_station.csv")
    assert {"XB.AAA.", "XB.BBB."} <= set(per_station.trace_id)


def test_bad_catalog_is_a_clear_error(tmp_path):
    from seisforge.bench.picking.continuous import read_catalog

    (tmp_path / "c.csv").write_text("station,phase,time\nA,P,2024-01-01T00:00:00Z\n")
    with pytest.raises(DataError, match="missing column"):
        read_catalog(tmp_path / "c.csv")
