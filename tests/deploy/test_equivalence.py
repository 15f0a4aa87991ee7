"""seisforge picks equal SeisBench ``classify`` picks (F1 >= 0.99, peak times within one sample)."""

from __future__ import annotations

import numpy as np
import obspy
import pytest

from seisforge import seisbench_compat as sbc
from seisforge.deploy.blocks import group_array
from seisforge.deploy.engine import FastPicker
from seisforge.deploy.scratch import ScratchPool
from seisforge.testing import continuous_stream, pick_set_f1, picks_frame


def assert_equivalent(model, stream, min_picks, backend="auto", **kwargs):
    ref = model.classify(stream, **kwargs).picks
    ours = FastPicker(model, batch_size=64, backend=backend, **kwargs).classify(stream)
    one_sample = 1.0 / model.sampling_rate
    stats = pick_set_f1(picks_frame(ref), picks_frame(ours), tolerance=one_sample + 1e-6)
    assert stats["n_ref"] >= min_picks, stats
    assert stats["f1"] >= 0.99, stats
    assert stats["max_abs_residual_s"] <= one_sample + 1e-6, stats
    return ref, ours


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_obs_iquique_matches_classify(shared, model, backend):
    from seisforge.deploy.runtimes import onnx as ort_runtime

    if backend == "onnx" and not ort_runtime.available():
        pytest.skip("onnxruntime/onnx not installed")
    # 50 Hz OBS data: resampled to the model's 100 Hz; the hydrophone channel is ignored
    stream = obspy.read(str(shared / "data" / "obs_iquique" / "*"), format="MSEED")
    assert {tr.stats.sampling_rate for tr in stream} == {50.0}
    assert FastPicker(model, backend=backend).backend == backend
    ref, ours = assert_equivalent(model, stream, min_picks=2, backend=backend)
    # same peak values and trigger windows, not only peak times
    for a, b in zip(ref, ours):
        assert a.peak_time == b.peak_time and a.start_time == b.start_time and a.end_time == b.end_time
        assert a.peak_value == pytest.approx(b.peak_value, abs=1e-5)
    low = {"P_threshold": 0.05, "S_threshold": 0.05, "blinding": (100, 100)}
    assert_equivalent(model, stream, min_picks=4, backend=backend, **low)


@pytest.mark.parametrize("kwargs", [{}, {"overlap": 0.25, "stacking": "max"}])
def test_long_synthetic_matches_classify(model, kwargs):
    stream, catalog = continuous_stream(duration_s=1800, n_events=25, seed=3)
    _, ours = assert_equivalent(model, stream, min_picks=30, **kwargs)
    # the synthetic events are actually found (the test is about picks, not about empty output)
    truth = catalog.assign(time=[obspy.UTCDateTime(t).timestamp for t in catalog.time])
    assert pick_set_f1(truth, picks_frame(ours), tolerance=0.5)["recall"] > 0.8


def test_gappy_multi_station_stream_matches_classify(model):
    a, _ = continuous_stream("XX.AAA.00", duration_s=900, n_events=8, seed=1)
    b, _ = continuous_stream("XX.BBB.", duration_s=900, n_events=8, seed=2, components="Z12")
    # a 100 s gap on all components of A, and a 12 s piece shorter than the window on B
    a = a.copy().cutout(obspy.UTCDateTime(a[0].stats.starttime + 300), a[0].stats.starttime + 400)
    piece = b.slice(b[0].stats.starttime + 600, b[0].stats.starttime + 612).copy()
    b = b.slice(endtime=b[0].stats.starttime + 500) + piece
    stream = a + b
    _, ours = assert_equivalent(model, stream, min_picks=10)
    assert {p.trace_id for p in ours} == {"XX.AAA.00", "XX.BBB."}


def test_nan_input_is_not_zero_filled(model):
    from seisforge.data.continuous.preprocess import sanitize
    from seisforge.runinfo import RunReport

    stream, _ = continuous_stream(duration_s=600, n_events=3, seed=4)
    stream[0].data[1000:1500] = np.nan
    report = RunReport(command="t")
    clean = sanitize(stream, model, report, "u")
    assert report.handled["nan_samples"] == 500
    assert all(np.isfinite(tr.data).all() for tr in clean)
    z = clean.select(channel="HHZ")
    assert len(z) == 2 and z[0].stats.npts == 1000  # split at the NaN run, a gap, not zeros


def test_block_arrays_equal_seisbench_stream_to_array(model):
    """The float32 block arrays equal SeisBench's float64 stream_to_array, cast, on messy groups:
    components that start and end at different sub-sample times, a missing component, a gap inside
    a group (strict=False fills it with zeros), Z12 channels and an ignored extra channel."""
    picker = FastPicker(model, batch_size=64, backend="torch", strict=False)
    a, _ = continuous_stream("XX.AAA.00", duration_s=120, n_events=1, seed=1)
    a[1].stats.starttime += 0.013  # not on the sample grid of the others
    a[2] = a[2].slice(a[2].stats.starttime + 7.5, a[2].stats.endtime - 3.2)
    z = a.select(channel="*Z")
    z.cutout(z[0].stats.starttime + 40, z[0].stats.starttime + 55)  # a gap: two Z traces
    a = z + a.select(channel="*[EN]")
    b, _ = continuous_stream("XX.BBB.", duration_s=90, n_events=1, seed=2, components="Z12")
    b.remove(b[1])  # missing component
    extra = b[0].copy()
    extra.stats.channel = "HHH"  # hydrophone: not a component of the model
    b.append(extra)
    for stream in (a, b):
        stream = stream.copy()
        stream.merge(-1)
        argdict = dict(picker.argdict)
        comp_dict, _ = sbc.build_comp_dict(model, stream, False)
        groups = sbc.group_stream(model, stream, strict=False, min_length_s=0, comp_dict=comp_dict)
        assert groups
        for group in groups:
            ref = model.stream_to_array(group, argdict)
            ours = group_array(model, picker.argdict, group, ScratchPool())
            assert ours.data.dtype == np.float32
            assert ours.data.shape == ref.data.shape
            np.testing.assert_array_equal(ours.data, ref.data.astype(np.float32))
            assert ours.start_time == ref.start_time
            assert ours.stations == ref.stations and ours.component_order == ref.component_order


@pytest.mark.parametrize("nans", ["edges", "late", "none"])
@pytest.mark.parametrize("method", ["max", "avg"])
def test_running_stack_equals_stack_windows(method, nans, monkeypatch):
    """Folding windows in batch by batch gives SeisBench's stack_windows bit for bit: uneven offsets
    (a last window that overlaps more) and a first sample no window covers; with NaN blinding at every
    window's edges, NaN inside a window and samples covered by NaN only ("edges"), with the first NaN
    in the last batch (counts per sample start mid-way, "late"), and without NaN (the average divides
    by counts recomputed from the offsets in chunks, here 37 samples, "none")."""
    from seisbench.ext import stack_windows

    from seisforge.deploy.inference import RunningStack

    monkeypatch.setattr(RunningStack, "CHUNK", 37)
    rng = np.random.default_rng(0)
    windows = rng.random((9, 50, 3), dtype=np.float32)
    if nans == "edges":
        windows[:, :5], windows[:, -5:] = np.nan, np.nan
        windows[4, 20:23, 1] = np.nan
        windows[0, 5:7] = np.nan  # samples 8, 9: no window has a number there
    elif nans == "late":
        windows[7, 10:12, 0] = np.nan
    offsets = np.array([3, 30, 60, 90, 120, 150, 180, 210, 223], dtype=np.intp)  # samples 0-2: no window
    ref = stack_windows(windows=windows[:, :, [0, 2]].copy(), offsets=offsets, method=method)
    running = RunningStack(offsets, 50, 2, method)
    for a, b in [(0, 4), (4, 5), (5, 9)]:  # three batches
        running.add(a, windows[a:b], [0, 2])
    if method == "avg":  # per-sample counts only once a NaN arrived
        assert (running.count is None) == (nans == "none")
    ours = running.result()
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    np.testing.assert_array_equal(ours, ref)  # NaN where SeisBench has NaN, equal bits elsewhere
    assert np.isnan(ours[:3]).all() and np.isfinite(ours[10:220]).all()
    if nans == "edges":
        assert np.isnan(ours[8:10]).all()


def test_float32_annotations_stack_as_they_come(model):
    """The float32 path's running stack equals stack_windows on every window's prediction, exactly."""
    from seisforge.deploy.inference import block_jobs, stack

    stream, _ = continuous_stream(duration_s=900, n_events=6, seed=5)
    for kwargs in ({}, {"stacking": "avg", "overlap": 1000}):
        picker = FastPicker(model, batch_size=7, backend="torch", **kwargs)  # batches that split blocks
        blocks = picker.blocks(stream)
        jobs, per_block = block_jobs(blocks), {}
        picker.inference.run(picker.passes.exact, blocks, jobs, per_block)
        ref = [stack(model, picker.argdict, b, per_block[bi]) for bi, b in enumerate(blocks)]
        ours = picker.annotate(blocks)
        assert len(ours) == len(ref) >= 1
        for a, b in zip(ours, ref):
            assert (a.trace_id, a.start_time, a.sampling_rate) == (b.trace_id, b.start_time, b.sampling_rate)
            np.testing.assert_array_equal(a.data, b.data)
