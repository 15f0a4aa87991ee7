"""The lean pick path (``seisforge.deploy.lean``): the full path's picks, without torch in the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import obspy
import pytest

from seisforge.cli import main
from seisforge.deploy import lean
from seisforge.deploy.blocks import stream_blocks
from seisforge.deploy.scratch import ScratchPool
from seisforge.deploy.settings import PickSettings
from seisforge.deploy.triggers import trigger_onsets
from seisforge.testing import continuous_stream


def test_trigger_onsets_equal_obspy():
    from obspy.signal.trigger import trigger_onset

    rng = np.random.default_rng(0)
    for i in range(2000):
        n = int(rng.integers(1, 300))
        curve = np.convolve(rng.random(n + 20), np.ones(int(rng.integers(1, 20))), "valid")[:n]
        curve /= curve.max()
        if i % 5 == 0:
            curve = np.round(curve, 1)  # samples exactly at the thresholds
        if i % 7 == 0:
            curve[rng.integers(0, n, 3)] = np.nan
        thr = float(rng.choice([0.1, 0.3, 0.5, 0.9, 1.0]))
        want = [tuple(map(int, x)) for x in trigger_onset(curve, thr, thr / 2)]
        assert trigger_onsets(curve, thr, thr / 2) == want
    curve = np.array([0.0, 0.6, 0.2, 0.7, 0.0])  # off above on: ObsPy's own function answers
    assert trigger_onsets(curve, 0.5, 0.65) == [tuple(map(int, x)) for x in trigger_onset(curve, 0.5, 0.65)]


@pytest.fixture(scope="module")
def pair(weights):
    """The ETHZ PhaseNetLight and the LeanModel a full picker stored for it."""
    from seisforge.deploy.engine import FastPicker
    from seisforge.models.registry import load_model

    settings = PickSettings(model="seisbench:PhaseNetLight", weights=weights, batch_size=72, backend="onnx",
                            precision="fp32")
    loaded = load_model(settings.model, weights=weights)
    picker = FastPicker(loaded.model, batch_size=72, backend="onnx", precision="fp32")
    assert lean.remember(settings, loaded.model, loaded.card, loaded.source, picker)
    desc = lean.description(settings)
    assert desc is not None and desc["backend"] == "onnx"
    return loaded.model, lean.LeanModel(desc), picker.argdict


def _stream(station="XL.LEA.", seed=0, duration_s=300.0):
    return continuous_stream(station, start="2024-05-01T00:00:00.004", duration_s=duration_s, n_events=2,
                             seed=seed)[0]


def _shifted():
    st = _stream(seed=1)
    t0 = st[0].stats.starttime
    z, n, e = (st.select(channel=f"HH{c}")[0] for c in "ZNE")
    return obspy.Stream([z.slice(t0 + 1.23), n, e.slice(endtime=t0 + 250.5)])


def _gap_in_one_component():
    st = _stream(seed=2)
    t0 = st[0].stats.starttime
    n = st.select(channel="HHN")[0]
    rest = [tr for tr in st if tr.stats.channel != "HHN"]
    return obspy.Stream([*rest, n.slice(endtime=t0 + 100), n.slice(t0 + 200)])


SIMPLE = {
    "clean": lambda: _stream(),
    "offsets_and_fraction": _shifted,
    "z_only": lambda: _stream(seed=3).select(channel="HHZ"),
    "two_instruments": lambda: _stream(seed=4) + _stream("XL.TWO.00", seed=5),
    "gap_in_one_component": _gap_in_one_component,
}


@pytest.mark.parametrize("case", sorted(SIMPLE))
def test_lean_blocks_equal_seisbench_blocks(pair, case):
    model, lean_model, argdict = pair
    want = stream_blocks(model, argdict, SIMPLE[case](), ScratchPool())
    stream = SIMPLE[case]()
    before = stream.copy()
    got = stream_blocks(lean_model, argdict, stream, ScratchPool(), share_data=True)
    assert stream == before  # the lean path shares the sample arrays and writes into none of them
    assert len(got) == len(want) >= 1
    for g, w in zip(got, want):
        assert (g.trace_id, g.start_time, g.sampling_rate) == (w.trace_id, w.start_time, w.sampling_rate)
        np.testing.assert_array_equal(g.offsets, w.offsets)
        np.testing.assert_array_equal(g.data, w.data)


def _gap_all():
    st = _stream(seed=6)
    t0 = st[0].stats.starttime
    return st.slice(endtime=t0 + 100) + st.slice(t0 + 150)


def _rate_50():
    st = _stream(seed=7)
    st[0].stats.sampling_rate = 50.0
    return st


def _both_1_and_n():
    st = _stream(seed=8)
    extra = st.select(channel="HHN")[0].copy()
    extra.stats.channel = "HH1"
    return st + extra


def _conflict():
    st = _stream(seed=9)
    t0 = st[0].stats.starttime
    other = st.select(channel="HHZ")[0].slice(t0 + 50, t0 + 80).copy()
    other.data = other.data + np.float32(1.0)
    return st + other


NOT_LEAN = {"gap_all_components": (_gap_all, {}), "sampling_rate": (_rate_50, {}),
            "strict_unequal_spans": (_shifted, {"strict": True}), "1_and_N": (_both_1_and_n, {}),
            "conflicting_overlap": (_conflict, {})}


@pytest.mark.parametrize("case", sorted(NOT_LEAN))
def test_other_streams_go_to_the_full_path(pair, case):
    model, lean_model, argdict = pair
    make, extra = NOT_LEAN[case]
    args = {**argdict, **extra}
    if case != "sampling_rate":  # SeisBench resamples that one itself
        stream_blocks(model, args, make(), ScratchPool())
    stream = make()
    before = stream.copy()
    with pytest.raises(lean.NotLean):
        stream_blocks(lean_model, args, stream, ScratchPool(), share_data=True)
    assert stream == before  # the full path gets the input as it was


WARM = """
import json, sys
from seisforge.cli import main
code = main(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "torch": "torch" in sys.modules, "seisbench_models": "seisbench.models" in sys.modules}))
"""


def _warm(args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    res = subprocess.run([sys.executable, "-c", WARM, json.dumps(["pick", "--no-progress", *args])],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_second_process_picks_the_same_without_torch(weights, tmp_path):
    from seisforge.deploy.store import read_picks

    src = tmp_path / "in"
    src.mkdir()
    _stream("XL.ONE.", seed=10, duration_s=900).write(str(src / "one.mseed"), format="MSEED", encoding="FLOAT32")
    args = ["--model", "PhaseNetLight", "--weights", weights, "--input", str(src), "--batch-size", "88",
            "--precision", "fp32"]
    assert main(["pick", "--no-progress", *args, "--out", str(tmp_path / "full")]) == 0  # stores the description
    out = _warm([*args, "--out", str(tmp_path / "lean")])
    assert out == {"code": 0, "torch": False, "seisbench_models": False}
    full, got = read_picks(tmp_path / "full"), read_picks(tmp_path / "lean")
    assert len(full) >= 2
    assert full.drop(columns="model_version").equals(got.drop(columns="model_version"))
    assert set(got.model_version) == set(full.model_version)
    parts = [sorted((tmp_path / d / "picks").rglob("*.parquet")) for d in ("full", "lean")]
    assert [p.read_bytes() for p in parts[0]] == [p.read_bytes() for p in parts[1]]

    # a station whose stream needs SeisBench's full rules (a gap in every component): counted, same picks
    _gap_all().write(str(src / "gap.mseed"), format="MSEED", encoding="FLOAT32")
    assert main(["pick", "--no-progress", *args, "--out", str(tmp_path / "full2")]) == 0
    out = _warm([*args, "--out", str(tmp_path / "lean2")])
    assert out["code"] == 0 and out["torch"]  # the full path was loaded for that station
    assert read_picks(tmp_path / "full2").equals(read_picks(tmp_path / "lean2"))
    report = json.loads((tmp_path / "lean2" / "run_report.json").read_text())
    assert report["handled"]["lean_fallback"] == 1
    assert report["examples"]["handled:lean_fallback"] == ["XL.LEA.__2024-05-01"]


def test_resampling_switches_the_process_to_the_full_path(weights, tmp_path):
    from seisforge.deploy.store import read_picks

    src = tmp_path / "in"
    src.mkdir()
    st = _stream("XL.RES.", seed=11, duration_s=600)
    t0 = st[0].stats.starttime
    first = st.slice(endtime=t0 + 300 - 0.01).copy()
    first.decimate(2)  # one channel at 50 Hz, then 100 Hz: the clean-up resamples (the lean model cannot)
    for tr in first:
        tr.data = tr.data.astype(np.float32)
    first.write(str(src / "res50.mseed"), format="MSEED", encoding="FLOAT32")
    st.slice(t0 + 300).write(str(src / "res100.mseed"), format="MSEED", encoding="FLOAT32")
    args = ["--model", "PhaseNetLight", "--weights", weights, "--input", str(src), "--batch-size", "104",
            "--precision", "fp32"]
    clean = tmp_path / "clean"  # a first process on a clean file stores the description
    clean.mkdir()
    _stream("XL.CLE.", seed=12).write(str(clean / "c.mseed"), format="MSEED", encoding="FLOAT32")
    assert main(["pick", "--no-progress", *args[:5], str(clean), *args[6:], "--out", str(tmp_path / "c")]) == 0
    assert main(["pick", "--no-progress", *args, "--out", str(tmp_path / "full")]) == 0
    out = _warm([*args, "--out", str(tmp_path / "lean")])
    assert out["code"] == 0 and out["torch"]
    assert read_picks(tmp_path / "full").equals(read_picks(tmp_path / "lean"))
    report = json.loads((tmp_path / "lean" / "run_report.json").read_text())
    assert report["handled"]["lean_fallback"] == 1 and report["handled"]["mixed_sampling_rate"] == 3
