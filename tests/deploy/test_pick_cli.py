"""End to end: ``seisforge pick`` on files -> Parquet, run report, messy archives, exports."""

from __future__ import annotations

import json

import numpy as np
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
    # inference accounting: windows run, and how many a bf16 first pass sent back to float32
    assert report["notes"]["model_windows"] >= 2 and report["notes"]["bf16_fallbacks"] == 0
    assert 0 <= report["notes"]["bf16_refined_windows"] <= report["notes"]["model_windows"]
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["weights"] == weights and "packages" in run["environment"]
    assert run["args"]["precision"] == "auto" and "precision" not in run["settings"]  # speed only
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


def test_sds_archive_gives_same_picks_as_files(weights, tmp_path):
    from seisforge.testing import continuous_stream

    files, sds = tmp_path / "files", tmp_path / "SDS"
    files.mkdir()
    for day in ("2024-02-10", "2024-02-11"):
        st, _ = continuous_stream("XS.SDS.", start=day, duration_s=900, n_events=5, seed=int(day[-2:]))
        st.write(str(files / f"{day}.mseed"), format="MSEED", encoding="FLOAT32")
        for tr in st:
            t = tr.stats.starttime
            d = sds / str(t.year) / "XS" / "SDS" / f"{tr.stats.channel}.D"
            d.mkdir(parents=True, exist_ok=True)
            tr.write(str(d / f"{tr.id}.D.{t.year}.{t.julday:03d}"), format="MSEED", encoding="FLOAT32")
    base = ["--model", "PhaseNetLight", "--weights", weights]
    assert _pick(base + ["--input", str(files), "--out", str(tmp_path / "a")]) == 0
    assert _pick(base + ["--sds", str(sds), "--stations", "XS.SDS", "--start", "2024-02-10",
                         "--end", "2024-02-12", "--out", str(tmp_path / "b")]) == 0
    a, b = read_picks(tmp_path / "a"), read_picks(tmp_path / "b")
    assert len(a) > 5 and set(b.station) == {"XS.SDS"} and set(b.day) == {"2024-02-10", "2024-02-11"}
    key = ["trace_id", "phase", "peak_time"]
    pd.testing.assert_frame_equal(a[key], b[key])


def test_bad_invocations_are_clear_errors(weights, tmp_path, capsys):
    base = ["--model", "PhaseNetLight", "--weights", weights, "--out", str(tmp_path / "o")]
    assert _pick(base + ["--input", str(tmp_path / "missing")]) == 2
    assert "input not found" in capsys.readouterr().err
    assert _pick(base + ["--sds", str(tmp_path)]) == 2
    assert "--stations, --start and --end" in capsys.readouterr().err
    assert _pick(["--model", "PhaseNetLight", "--out", str(tmp_path / "o2"), "--input", str(tmp_path)]) == 2
    assert "needs --weights" in capsys.readouterr().err


def test_midnight_is_seamless(weights, model, tmp_path):
    from seisforge.testing import continuous_stream, pick_set_f1, picks_frame

    # 40 min around midnight, events 5 s before and 3 s after 00:00, split into two day files; the
    # stream starts on the epoch window grid (stride 1501 samples) that seisforge aligns day starts to
    stride = 1501
    start = obspy.UTCDateTime(np.ceil(obspy.UTCDateTime("2024-07-01T23:40:00").timestamp * 100 / stride) * stride / 100)
    midnight = obspy.UTCDateTime("2024-07-02")
    times = [300.0, 700.0] + [midnight - start - 5, midnight - start + 3] + [1600.0, 2100.0]
    stream, _ = continuous_stream("XD.MID.", start=start, duration_s=2400, event_times=times, seed=11)
    src = tmp_path / "files"
    src.mkdir()
    stream.slice(endtime=midnight - 0.005).write(str(src / "d1.mseed"), format="MSEED", encoding="FLOAT32")
    stream.slice(starttime=midnight).write(str(src / "d2.mseed"), format="MSEED", encoding="FLOAT32")
    assert _pick(["--model", "PhaseNetLight", "--weights", weights, "--input", str(src),
                  "--out", str(tmp_path / "o")]) == 0
    df = read_picks(tmp_path / "o")
    assert set(df.day) == {"2024-07-01", "2024-07-02"} and not df.duplicated(["trace_id", "phase", "peak_time"]).any()
    ours = pd.DataFrame({"trace_id": df.trace_id, "phase": df.phase,
                         "time": (df.peak_time - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)})
    ref = picks_frame(model.classify(stream).picks)
    near = ref[(ref.time - midnight.timestamp).abs() < 15]
    assert len(near) >= 2  # the arrivals around midnight are picked by the reference ...
    stats = pick_set_f1(ref, ours, tolerance=0.011)
    assert stats["f1"] >= 0.99, stats  # ... and by the per-day units, once each, on the same grid
    assert stats["max_abs_residual_s"] < 1e-6


def test_failing_format_detectors_are_reported_not_swallowed(tmp_path):
    from seisforge.data.continuous.waveio import ReadProblem, read_waveforms

    (tmp_path / "junk.mseed").write_bytes(b"x")  # detectors say no: plain unknown format
    with pytest.raises(ReadProblem) as plain:
        read_waveforms(tmp_path / "junk.mseed")
    assert plain.value.reason == "unknown_format" and str(plain.value).endswith("not miniSEED or SAC")
    with pytest.raises(ReadProblem) as raised:  # a directory makes both detectors raise
        read_waveforms(tmp_path)
    assert raised.value.reason == "unknown_format"
    assert "MSEED detector: IsADirectoryError" in str(raised.value)
    assert "SAC detector: IsADirectoryError" in str(raised.value)


@pytest.mark.parametrize("opt_in", ["", "1"])
def test_openvino_sends_no_telemetry(opt_in):
    """``import openvino`` after seisforge gets OpenVINO's no-op telemetry stub (no forked sender, no
    network), unless SEISFORGE_OPENVINO_TELEMETRY=1 asks for OpenVINO's own behaviour."""
    import os
    import subprocess
    import sys

    pytest.importorskip("openvino")
    code = "import seisforge, openvino.tools.ovc as o; print(type(o.telemetry).__module__)"
    env = {**os.environ, "SEISFORGE_OPENVINO_TELEMETRY": opt_in, "CI": "true"}  # CI: the real one sends nothing
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("openvino_telemetry.main" if opt_in else "openvino.tools.ovc.telemetry_stub")
