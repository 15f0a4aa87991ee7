"""The bf16 path: exact graph rewrites, float32 refinement around triggers, self-check and fallback.

The refinement logic is tested with a stand-in for the bf16 forward pass (float32 plus seeded noise),
so it runs on any CPU; the OpenVINO tests skip where OpenVINO or native bf16 is missing.
"""

from __future__ import annotations

import io

import numpy as np
import obspy
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from seisforge.deploy.blocks import Block  # noqa: E402
from seisforge.deploy.engine import FastPicker  # noqa: E402
from seisforge.deploy.refine import windows_covering  # noqa: E402
from seisforge.deploy.runtimes import onnx as ort_runtime  # noqa: E402
from seisforge.deploy.runtimes import openvino as ov_runtime  # noqa: E402
from seisforge.deploy.runtimes import rewrites  # noqa: E402
from seisforge.deploy.runtimes.export import export_graph  # noqa: E402
from seisforge.errors import ConfigError  # noqa: E402
from seisforge.testing import continuous_stream  # noqa: E402


def _trained_like_phasenet():
    """Full PhaseNet, random weights, with non-trivial batch-norm statistics (as after training)."""
    from seisforge.models.registry import load_model

    torch.manual_seed(0)
    model = load_model("seisbench:PhaseNet", weights=None, allow_random=True).model.eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return model


def test_windows_covering_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(50):
        width, step = int(rng.integers(5, 40)), int(rng.integers(1, 40))
        n = int(rng.integers(1, 30))
        starts = np.arange(n) * step
        if rng.random() < 0.5 and n > 1:  # SeisBench's extra last window, closer than the stride
            starts[-1] = starts[-2] + int(rng.integers(1, step + 1))
        total = int(starts[-1]) + width
        spans = []
        for _ in range(int(rng.integers(0, 6))):
            a = int(rng.integers(0, total))
            spans.append((a, int(rng.integers(a, total))))
        hot = {s for a, b in spans for s in range(a, b + 1)}
        want = [w for w in range(n) if any(starts[w] <= s < starts[w] + width for s in hot)]
        assert windows_covering(starts, width, np.array(spans, dtype=np.int64)).tolist() == want


def test_hot_windows_are_the_windows_over_seeded_hot_runs(model):
    """Brute force: per phase, runs of samples where any window reaches threshold/2 - margin, kept when
    some window reaches threshold - margin inside the run; the windows overlapping kept runs."""
    picker = FastPicker(model, batch_size=16, backend="torch", precision="fp32", P_threshold=0.4, S_threshold=0.3)
    width, step, n = model.in_samples, model.in_samples // 2, 9
    offsets = np.arange(n) * step
    offsets[-1] = offsets[-2] + 700  # the closer last window
    total = offsets[-1] + width
    block = Block("XX.STA..HH", obspy.UTCDateTime(0), np.zeros((3, total), np.float32), 100.0, offsets)
    hot_cut, seed_cut = picker.refinement.hot_cut, picker.refinement.seed_cut

    def check(preds: np.ndarray) -> list[int]:
        collect = picker.refinement.collector()
        collect([(0, w, int(o)) for w, o in enumerate(offsets)], preds)
        got = [wi for _, wi, _ in picker.refinement.hot_windows([block], {0: preds[:, :, :2]}, collect.runs)]
        touched = set()
        for k in range(2):
            hot, seed = np.zeros(total, bool), np.zeros(total, bool)
            for w, o in enumerate(offsets):
                hot[o : o + width] |= preds[w, :, k] >= hot_cut[k]
                seed[o : o + width] |= preds[w, :, k] >= seed_cut[k]
            t = 0
            while t < total:
                if not hot[t]:
                    t += 1
                    continue
                e = t
                while e + 1 < total and hot[e + 1]:
                    e += 1
                if seed[t : e + 1].any():
                    touched |= {w for w, o in enumerate(offsets) if o <= e and o + width > t}
                t = e + 1
        assert sorted(got) == sorted(touched)
        assert len(set(got)) == len(got)
        return sorted(got)

    # a seeded P bump in window 2, and a seedless hot one in window 3 starting right after it and running
    # to the end of window 3: adjacent runs join, so windows 4 and 5 are recomputed too
    preds = np.full((n, width, 3), 0.01, dtype=np.float32)
    end = 2 * step + 2000  # absolute end (exclusive) of the seeded bump
    preds[2, 1900:2000, 0] = 0.6
    preds[3, end - 3 * step :, 0] = 0.2
    assert check(preds) == [2, 3, 4, 5]
    preds[3, end - 3 * step, 0] = 0.01  # one cold sample between them: windows 4 and 5 are left alone
    assert check(preds) == [2, 3]
    preds[2, 1900:2000, 0] = 0.25  # no seed any more: nothing is recomputed
    assert check(preds) == []

    rng = np.random.default_rng(3)
    for _ in range(20):
        preds = np.full((n, width, 3), 0.01, dtype=np.float32)
        for _ in range(int(rng.integers(0, 8))):  # bumps of random height
            w, c, a = int(rng.integers(0, n)), int(rng.integers(0, 2)), int(rng.integers(0, width - 40))
            preds[w, a : a + int(rng.integers(1, 40)), c] = rng.choice([0.1, 0.2, 0.25, 0.35, 0.6])
        preds[:, :50] = np.nan  # blinded edges are never hot
        check(preds)


def test_openvino_rewrites_are_exact():
    model = _trained_like_phasenet()
    args = dict(model.default_args)
    plain, includes_pre, example = export_graph(model, 3, model.in_samples, args, part="net")
    assert not includes_pre
    n_concat = sum(n.op_type == "Concat" for n in onnx.load_from_string(plain).graph.node)
    fast = rewrites.split_concat_conv(
        rewrites.sink_transposed_conv_bias(rewrites.fold_batchnorm(onnx.load_from_string(plain))))
    onnx.checker.check_model(fast)
    ops = [n.op_type for n in fast.graph.node]
    assert "BatchNormalization" not in ops  # folded into the four transposed convolutions
    convt = [n for n in fast.graph.node if n.op_type == "ConvTranspose"]
    assert len(convt) == 4 and all(len(n.input) == 2 for n in convt)  # bias moved behind the crop
    assert ops.count("Concat") == n_concat - 4  # the four skip concatenations became split convolutions
    used = {i for n in fast.graph.node for i in n.input}
    assert all(i.name in used for i in fast.graph.initializer)  # no dead weights left behind
    x = np.random.default_rng(2).normal(size=(3, 3, model.in_samples)).astype(np.float32)
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    got = ort_runtime.cpu_session(fast.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    # each level's two crops ([1:-2], then centred on the skip), and with the polyphase trim three, become one
    for graph, per_level in ((fast, 2), (rewrites.polyphase_transposed_conv(onnx.load_from_string(fast.SerializeToString())), 3)):
        n_slice = sum(n.op_type == "Slice" for n in graph.graph.node)
        merged = rewrites.merge_slice_chains(onnx.load_from_string(graph.SerializeToString()))
        onnx.checker.check_model(merged)
        assert sum(n.op_type == "Slice" for n in merged.graph.node) == n_slice - 4 * (per_level - 1)
        assert not any(n.op_type == "Shape" for n in merged.graph.node)  # the crops' offset arithmetic is gone
        before = ort_runtime.cpu_session(graph.SerializeToString()).run(None, {"x": x})[0]
        np.testing.assert_array_equal(ort_runtime.cpu_session(merged.SerializeToString()).run(None, {"x": x})[0], before)


class _Crops(torch.nn.Module):
    """Two crops along time with a bias and a ReLU between them; optionally the middle one read again."""

    def __init__(self, reread: bool):
        super().__init__()
        self.reread = reread
        self.bias = torch.nn.Parameter(torch.arange(4.0).reshape(1, 4, 1))

    def forward(self, x):
        mid = torch.relu(x[:, :, 2:-1] + self.bias)
        out = mid[:, :, (mid.shape[-1] - 20) // 2 : (mid.shape[-1] - 20) // 2 + 20]
        return (out, mid.sum(-1)) if self.reread else out


@pytest.mark.parametrize(("reread", "dynamic"), [(False, False), (True, False), (False, True)])
def test_merge_slice_chains_only_where_nothing_else_reads_the_cut(reread, dynamic):
    """Crop, bias, ReLU, crop: one slice with the offsets added up, the same values; left alone when the
    middle tensor is read elsewhere (its length would change) or the time axis is not fixed."""
    buf = io.BytesIO()
    torch.onnx.export(_Crops(reread).eval(), (torch.randn(2, 4, 41),), buf, input_names=["x"], opset_version=17,
                      dynamo=False, dynamic_axes={"x": {0: "n", 2: "t"} if dynamic else {0: "n"}})
    graph = onnx.load_from_string(buf.getvalue())
    merged = rewrites.merge_slice_chains(onnx.load_from_string(buf.getvalue()))
    onnx.checker.check_model(merged)
    n_slice = [sum(n.op_type == "Slice" for n in g.graph.node) for g in (graph, merged)]
    assert n_slice == ([2, 2] if reread or dynamic else [2, 1])
    x = np.random.default_rng(0).normal(size=(3, 4, 41)).astype(np.float32)
    for want, got in zip(*(ort_runtime.cpu_session(g.SerializeToString()).run(None, {"x": x}) for g in (graph, merged))):
        np.testing.assert_array_equal(got, want)


def test_sink_leaves_channel_crops_alone():
    """A slice over the channel axis does not commute with a per-channel bias: no rewrite."""

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.up = torch.nn.ConvTranspose1d(4, 6, 7, stride=4, bias=True)

        def forward(self, x):
            return torch.relu(self.up(x))[:, 1:5]

    net = Net().eval()
    buf = io.BytesIO()
    x = torch.randn(2, 4, 50)
    torch.onnx.export(net, (x,), buf, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
    model = rewrites.sink_transposed_conv_bias(onnx.load_from_string(buf.getvalue()))
    assert all(len(n.input) == 3 for n in model.graph.node if n.op_type == "ConvTranspose")


@pytest.mark.parametrize(("stride", "kernel", "bias", "pad", "out_pad"),
                         [(4, 7, False, 0, 0), (2, 3, True, 0, 0), (3, 9, True, 0, 0), (4, 4, False, 0, 0),
                          (4, 7, True, 2, 0), (4, 7, True, 2, 1), (4, 7, False, 3, 0), (2, 3, True, 1, 1),
                          (4, 8, False, 0, 1), (1, 1, True, 0, 0), (1, 3, True, 1, 0), (1, 3, False, 3, 0)])
def test_polyphase_transposed_conv_equals_the_transposed_conv(stride, kernel, bias, pad, out_pad):
    """Each phase's taps as one Conv, interleaved: the transposed convolution's outputs to float rounding
    (kernels longer, shorter and a multiple of the stride; pads and output padding, PhaseNetLight's
    among them, as a crop of the phases; stride 1 as one Conv); one whose output padding reaches past the
    phases, and one whose pads exceed its kernel, are left as they are."""
    net = torch.nn.ConvTranspose1d(5, 6, kernel, stride=stride, padding=pad, output_padding=out_pad, bias=bias).eval()
    buf = io.BytesIO()
    x = torch.randn(3, 5, 41)
    torch.onnx.export(net, (x,), buf, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False,
                      dynamic_axes={"x": {0: "n", 2: "t"}})
    model = rewrites.polyphase_transposed_conv(onnx.load_from_string(buf.getvalue()))
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    span = -(-kernel // stride) * stride  # taps per phase times the stride
    assert ("ConvTranspose" in ops) == (span - kernel - out_pad + pad < 0 or pad > span - 1)
    assert ("Transpose" in ops) == (stride > 1 and "ConvTranspose" not in ops)
    session = ort_runtime.cpu_session(model.SerializeToString())
    for length in (41, 17):  # any input length: the reshapes are shape-agnostic
        xx = torch.randn(2, 5, length)
        with torch.inference_mode():
            want = net(xx).numpy()
        got = session.run(None, {"x": xx.numpy()})[0]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_openvino_keeps_the_faster_of_plain_and_polyphase(monkeypatch):
    """The float32 pass times both graphs and keeps the faster; either gives the torch outputs."""
    model = _trained_like_phasenet()
    args = dict(model.default_args)
    x = torch.from_numpy(np.random.default_rng(4).normal(size=(3, 3, model.in_samples)).astype(np.float32))
    with torch.inference_mode():
        want = model(model.annotate_batch_pre(x, argdict=args)).numpy()
    for slower in (0, 1):  # fake timings: calls alternate plain / polyphase; the one at `slower` takes 2 s
        calls = []

        def fake_seconds(request, batch, slower=slower, calls=calls):
            calls.append(1)
            return 2.0 if (len(calls) - 1) % 2 == slower else 1.0

        monkeypatch.setattr(ov_runtime, "_seconds", fake_seconds)
        f32 = ov_runtime.OpenVinoForward(model, 3, model.in_samples, args, precision="f32", micro_batch=2)
        assert len(calls) == 6 and f32.polyphase == (slower == 0)
        ops = [n.op_type for n in onnx.load_from_string(f32.graph).graph.node]
        assert ("ConvTranspose" in ops) != f32.polyphase
        np.testing.assert_allclose(f32(x).numpy(), want, rtol=0, atol=1e-5)


class _NoisyForward:
    """Stand-in for the bf16 forward pass: the float32 outputs plus seeded uniform noise."""

    def __init__(self, fp32, amplitude: float):
        self.fp32, self.amplitude, self.calls = fp32, amplitude, 0
        self.includes_pre = fp32.includes_pre

    def __call__(self, x):
        y = self.fp32(x)
        self.calls += 1
        noise = np.random.default_rng(self.calls).uniform(-self.amplitude, self.amplitude, size=y.shape)
        return (y + torch.from_numpy(noise.astype(np.float32))).clamp(0, 1)


def _picker_with_fake_bf16(model, amplitude: float) -> FastPicker:
    picker = FastPicker(model, batch_size=64, backend="onnx", precision="fp32")
    picker.passes.bf16 = picker.passes.active = _NoisyForward(picker.passes.exact, amplitude)
    picker.passes.bf16_cost = 0.6
    return picker


def _key(picks):
    return [(p.trace_id, p.phase, p.peak_time, p.start_time, p.end_time) for p in picks]


def _assert_same_picks(got, want):
    """Same pick times; peak values up to float32 rounding (windows are batched differently)."""
    assert _key(got) == _key(want)
    np.testing.assert_allclose([p.peak_value for p in got], [p.peak_value for p in want], rtol=0, atol=1e-5)


def test_refinement_gives_float32_picks_despite_approximate_first_pass(model):
    stream, _ = continuous_stream(duration_s=3600, n_events=20, seed=11)
    want = FastPicker(model, batch_size=64, backend="onnx", precision="fp32").classify(stream)
    assert len(want) > 20
    # noise of 0.02 moves peaks and trigger edges: without refinement the picks differ ...
    raw = _picker_with_fake_bf16(model, 0.02)
    raw.refinement.refine = lambda *a, **k: None
    assert _key(raw.classify(stream)) != _key(want)
    # ... with it they are the float32 picks, and only the windows near triggers were recomputed
    picker = _picker_with_fake_bf16(model, 0.02)
    _assert_same_picks(picker.classify(stream), want)
    st = picker.stats
    assert 0 < st["refined_windows"] < st["windows"] and st["fallbacks"] == 0
    assert 0.005 < st["max_bf16_error"] <= 0.02 + 1e-6


def test_large_bf16_errors_trigger_the_float32_fallback(model, caplog):
    stream, _ = continuous_stream(duration_s=1800, n_events=10, seed=12)
    want = FastPicker(model, batch_size=64, backend="onnx", precision="fp32").classify(stream)
    picker = _picker_with_fake_bf16(model, 0.09)  # above half the margin (0.05)
    with caplog.at_level("WARNING"):
        got = picker.classify(stream)
    assert picker.stats["fallbacks"] == 1
    assert "recomputing in float32" in caplog.text
    _assert_same_picks(got, want)


def test_auto_precision_follows_the_share_of_windows_near_triggers(model):
    stream, _ = continuous_stream(duration_s=7200, n_events=60, seed=13)  # 480 windows
    picker = _picker_with_fake_bf16(model, 0.01)
    picker.passes.auto = True
    picker.passes.bf16_cost = 0.9  # + 1.7 x the hot share > 1 once 1000 windows are seen
    for _ in range(2):
        picker.classify(stream)
        assert picker.precision == "bf16"
    picker.classify(stream)
    refined = picker.stats["refined_windows"]
    assert refined > 0
    assert picker.precision == "fp32" and picker.passes.active is None
    # in float32 the hot share is still measured (nothing is refined); a cheaper bf16 pass wins again
    picker.passes.bf16_cost = 0.2
    want = FastPicker(model, batch_size=64, backend="onnx", precision="fp32").classify(stream)
    _assert_same_picks(picker.classify(stream), want)
    assert picker.stats["refined_windows"] == refined and picker.precision == "bf16"
    _assert_same_picks(picker.classify(stream), want)
    assert picker.stats["refined_windows"] > refined
    # an explicit bf16 request is never dropped
    explicit = _picker_with_fake_bf16(model, 0.01)
    explicit.passes.bf16_cost = 0.9
    for _ in range(3):
        explicit.classify(stream)
    assert explicit.precision == "bf16"


def test_precision_errors_and_auto_without_bf16(model, monkeypatch):
    with pytest.raises(ConfigError, match="precision must be"):
        FastPicker(model, precision="int8")
    monkeypatch.setattr(ov_runtime, "bf16_native", lambda: False)
    with pytest.raises(ConfigError, match="native bf16"):
        FastPicker(model, precision="bf16")
    assert FastPicker(model, precision="auto").precision == "fp32"
    # thresholds so low that the refinement margin leaves no room: auto keeps float32, bf16 refuses
    monkeypatch.setattr(ov_runtime, "bf16_native", lambda: True)
    low = {"P_threshold": 0.05, "S_threshold": 0.05}
    assert FastPicker(model, precision="auto", **low).precision == "fp32"
    with pytest.raises(ConfigError, match="refinement margin"):
        FastPicker(model, precision="bf16", **low)


needs_bf16 = pytest.mark.skipif(not ov_runtime.bf16_native(),
                                reason="OpenVINO not installed or no native bf16 on this CPU")


@needs_bf16
def test_openvino_forward_matches_torch():
    model = _trained_like_phasenet()
    args = dict(model.default_args)
    x = torch.from_numpy(np.random.default_rng(3).normal(size=(5, 3, model.in_samples)).astype(np.float32))

    def torch_out(batch):
        with torch.inference_mode():
            return model(model.annotate_batch_pre(batch, argdict=args)).numpy()

    f32 = ov_runtime.OpenVinoForward(model, 3, model.in_samples, args, precision="f32", micro_batch=2)
    assert f32.rewritten and f32.includes_pre
    np.testing.assert_allclose(f32(x).numpy(), torch_out(x), rtol=0, atol=1e-5)
    bf16 = ov_runtime.OpenVinoForward(model, 3, model.in_samples, args, micro_batch=2)
    assert bf16.precision == "bf16" and bf16.centred and bf16.pre is None
    # bf16 is close, not equal; with large offsets too, since the windows are centred in float32 first
    offsets = torch.tensor([1e4, -3e5, 2e5]).view(1, 3, 1)
    for batch in (x, x + offsets):
        diff = np.abs(bf16(batch).numpy() - torch_out(batch)).max()
        assert 1e-6 < diff < 0.05

    # a normalisation that does not remove the mean: no centring, a separate float32 model instead
    model.annotate_batch_pre = lambda batch, argdict: batch / (batch.std(axis=-1, keepdims=True) + 1e-10)
    assert not ov_runtime.mean_removing(model, args, 3, model.in_samples)
    plain = ov_runtime.OpenVinoForward(model, 3, model.in_samples, args, micro_batch=2)
    assert not plain.centred and plain.pre is not None and plain.includes_pre
    assert 1e-6 < np.abs(plain(x).numpy() - torch_out(x)).max() < 0.05


@needs_bf16
def test_openvino_bf16_picks_equal_float32_picks(model):
    stream, _ = continuous_stream(duration_s=3600, n_events=20, seed=14)
    want = FastPicker(model, batch_size=64, precision="fp32").classify(stream)
    picker = FastPicker(model, batch_size=64, precision="bf16")
    assert picker.precision == "bf16"
    _assert_same_picks(picker.classify(stream), want)
    assert 0 < picker.stats["refined_windows"] < picker.stats["windows"]
    assert picker.stats["fallbacks"] == 0
