"""End to end: ``seisforge pick`` on files -> Parquet, run report, messy archives, exports."""

from __future__ import annotations

import json

import obspy
import pandas as pd
import pytest

from seisforge.cli import main
from seisforge.deploy.store import SCHEMA, read_picks


def _pick(args):
    return main(["pick", "--no-progress", *args])


def test_pick_obs_files_equal_classify(shared, weights, model, tmp_path):
    src = shared / "data" / "obs_iquique"
    out = tmp_path / "picks"
    assert _pick(["--model", "PhaseNetLight", "--weights", weights, "--input", str(src), "--out", str(out),
                  "--csv", str(tmp_path / "p.csv"), "--quakeml", str(tmp_path / "p.xml")]) == 0
    df = read_picks(out)
    ref = model.classify(obspy.read(str(src / "*"), format="MSEED")).picks
    assert len(df) == len(ref) >= 2
    got = sorted(zip(df.trace_id, df.phase, df.peak_time.astype("int64")))
    want = sorted((p.trace_id, p.phase, p.peak_time.ns) for p in ref)
    assert got == want
    part = next((out / "picks").glob("station=*/day=*/part-0.parquet"))
    assert part.parent.name == "day=2016-07-03" and part.parent.parent.name == "station=IQ.OBS1."
    import pyarrow.parquet as pq

    assert pq.read_schema(part).remove_metadata().equals(SCHEMA)
    assert set(df.model) == {"seisbench:PhaseNetLight"} and set(df.model_version) == {"ethz (v2)"}
    report = json.loads((out / "run_report.json").read_text())
    assert report["processed"] == 1 and report["handled"]["resampled"] == 3
    assert report["skipped"]["channel_not_used"] == 1  # the hydrophone
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["weights"] == weights and "packages" in run["environment"]
    csv = pd.read_csv(tmp_path / "p.csv")
    assert len(csv) == len(df)
    assert len(obspy.read_events(str(tmp_path / "p.xml"))[0].picks) == len(df)


def test_messy_archive_every_case_counted(weights, messy_archive, tmp_path):
    src = messy_archive
    out = tmp_path / "picks"
    code = _pick(["--model", "PhaseNetLight", "--weights", weights, "--input", str(src), "--out", str(out)])
    assert code == 0  # corrupt files never end the run
    r = json.loads((out / "run_report.json").read_text())
    assert r["failed"] == {"corrupt_file": 1, "truncated_file": 1, "unknown_format": 1}
    ex = r["examples"]
    assert any("corrupt.mseed" in k for k in ex["failed:corrupt_file"])
    assert any("truncated.mseed" in k for k in ex["failed:truncated_file"])
    h, s = r["handled"], r["skipped"]
    assert {k.split(":")[1] for k in ex["handled:gap"]} >= {f"XG.GAP.00.HH{c}" for c in "ZNE"}
    assert {k.split(":")[1] for k in ex["handled:overlap"]} == {
        f"{s}.HH{c}" for s in ("XG.GAP.00", "XO.OVL.") for c in "ZNE"}
    assert h["overlap_conflict_removed"] == 1  # one station-day, 100 s on 3 components cut out
    assert r["notes"]["overlap_conflict_seconds"] == pytest.approx(300, abs=0.1)
    assert h["mixed_sampling_rate"] == 3
    assert h["missing_component"] == 1 and "XZ.ZON." in ex["handled:missing_component"][0]
    assert h["z12_as_zne"] == 1
    assert h["nan_samples"] == 900
    # the 12 s station, and the 20 s before the NaN run of XN.NAN
    assert {k.split(":")[1] for k in ex["skipped:segment_shorter_than_window"]} == {"XS.SHO.", "XN.NAN."}
    assert r["notes"]["short_segment_seconds"] == pytest.approx(12 + 20, abs=0.1)
    picks = read_picks(out)
    stations = set(picks.station)
    # every usable station got picked; the short-only station produced a counted, empty unit
    assert {"XG.GAP.00", "XO.OVL.", "XM.MIX.", "XZ.ZON.", "X1.Z12.", "XN.NAN."} <= stations
    assert r["processed"] == 8 and s["no_window_fits"] == 1 and s["no_data"] == 1  # short; corrupt
    assert ex["skipped:no_window_fits"] == ["XS.SHO.__2024-03-01"]
    assert not picks.peak_value.isna().any()
