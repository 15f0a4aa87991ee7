"""``seisforge pick --model stalta``: continuous STA/LTA triggers, phases by polarisation, on an SDS archive."""

from __future__ import annotations

import json

import numpy as np
import obspy
import pandas as pd
import pytest

from seisforge.cli import main
from seisforge.deploy.stalta_stream import StaLtaStreamPicker
from seisforge.deploy.store import read_picks
from seisforge.errors import ConfigError
from seisforge.models.stalta import StaLtaPicker

FS = 100.0
T0 = obspy.UTCDateTime("2020-01-01T00:00:00")


def _stream(p_s: float = 120.0, s_s: float = 126.0, dead: str = "") -> obspy.Stream:
    """300 s of 3-C noise with a P (on Z) and an S (on the horizontals) of clear onsets."""
    rng = np.random.default_rng(0)
    n = int(300 * FS)
    t = np.arange(n) / FS
    data = {c: rng.normal(0, 1.0, n) for c in "ZNE"}
    for onset, amps in ((p_s, {"Z": 1.0, "N": 0.3, "E": 0.2}), (s_s, {"Z": 0.15, "N": 0.8, "E": 0.6})):
        on = t >= onset
        wave = np.sin(2 * np.pi * 6.0 * (t - onset)) * np.exp(-(t - onset) / 2.0) * on * 40.0
        for c in "ZNE":
            data[c] += amps[c] * wave
    if dead:
        data[dead][:] = 0.0
    return obspy.Stream([obspy.Trace(data[c].astype(np.float32), {
        "network": "SY", "station": "A", "location": "", "channel": f"HH{c}", "sampling_rate": FS, "starttime": T0})
        for c in "ZNE"])


def _classify(picker: StaLtaStreamPicker, st: obspy.Stream):
    return picker.picks(picker.annotate(picker.blocks(st)))


def test_stalta_stream_picks_p_and_s_at_their_onsets():
    picks = _classify(StaLtaStreamPicker(StaLtaPicker()), _stream())
    got = [(p.phase, round(p.peak_time - T0, 1)) for p in picks]
    assert [g[0] for g in got] == ["P", "S"], got
    assert abs(got[0][1] - 120.0) <= 0.1 and abs(got[1][1] - 126.0) <= 0.1
    assert all(0.75 <= p.peak_value < 1 and p.start_time <= p.end_time for p in picks)
    assert all(p.trace_id == "SY.A." for p in picks)


def test_stalta_stream_phase_falls_back_to_the_component_when_z_is_dead():
    picks = _classify(StaLtaStreamPicker(StaLtaPicker()), _stream(dead="Z"))
    assert {p.phase for p in picks} == {"S"}  # only horizontals: every arrival is an S candidate


def test_stalta_stream_thresholds_and_window_options():
    strict = StaLtaStreamPicker(StaLtaPicker(), P_threshold=0.999, S_threshold=0.999)
    assert _classify(strict, _stream()) == []
    only_s = _classify(StaLtaStreamPicker(StaLtaPicker(), P_threshold=0.999), _stream())
    assert [p.phase for p in only_s] == ["S"]
    with pytest.raises(ConfigError, match="overlap"):
        StaLtaStreamPicker(StaLtaPicker(), overlap=1500)
    with pytest.raises(ConfigError, match="threshold"):
        StaLtaStreamPicker(StaLtaPicker(), P_threshold=1.5)


def test_pick_stalta_on_sds_finds_the_true_arrivals(tmp_path, capsys):
    pytest.importorskip("pyproj")
    from seisforge.data.network import NetworkConfig, synthesize_network

    rep = synthesize_network(NetworkConfig(stations=2, hours=0.5, events_per_day=600, seed=3,
                                           transients_per_day=0), tmp_path / "net", progress=False)
    out = tmp_path / "picks"
    args = ["pick", "--no-progress", "--sds", str(tmp_path / "net/sds"), "--stations", rep.notes["stations"],
            "--start", "2020-01-01", "--end", "2020-01-02", "--model", "stalta", "--out", str(out)]
    assert main(args) == 0
    picks = read_picks(out)
    assert set(picks["model"]) == {"stalta"} and set(picks["phase"]) <= {"P", "S"}
    arr = pd.read_csv(tmp_path / "net/arrivals.csv", parse_dates=["recorded_time"])
    arr = arr[arr["above_noise"]]
    assert len(arr) >= 5
    hit = [((picks.trace_id == a.trace_id) & (picks.phase == a.phase)
            & ((picks.peak_time - a.recorded_time).abs().dt.total_seconds() <= 0.5)).any()
           for a in arr.itertuples()]
    assert np.mean(hit) >= 0.8, np.mean(hit)
    report = json.loads((out / "run_report.json").read_text())
    assert report["processed"] == 2 and report["notes"]["n_picks"] == len(picks)
    assert main(args) == 0  # a rerun finds every station-day done and keeps the picks
    assert len(read_picks(out)) == len(picks)
    assert main([*args[:-2], "--overlap", "100", "--out", str(tmp_path / "other")]) != 0
    assert "overlap do not apply to continuous STA/LTA" in capsys.readouterr().err
