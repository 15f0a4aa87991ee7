"""ONNX Runtime path: the graph rewrites and the data-parallel calls do not change the outputs."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from seisforge.deploy.runtimes import onnx as ort_runtime  # noqa: E402
from seisforge.deploy.runtimes import rewrites  # noqa: E402


@pytest.fixture(scope="module")
def phasenet():
    from seisforge.models.registry import load_model

    torch.manual_seed(0)
    return load_model("seisbench:PhaseNet", weights=None, allow_random=True).model.eval()


def _windows(n: int, samples: int) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(n, 3, samples)).astype(np.float32)


def test_rewritten_graph_matches_torch_and_model_stays_in_eval_mode(phasenet):
    fwd = ort_runtime.OnnxForward(phasenet, 3, phasenet.in_samples, dict(phasenet.default_args))
    assert fwd.rewritten
    assert not any(m.training for m in phasenet.modules())  # the export must not switch on training mode
    x = _windows(5, phasenet.in_samples)
    with torch.inference_mode():
        want = phasenet(phasenet.annotate_batch_pre(torch.from_numpy(x), argdict=dict(phasenet.default_args)))
    got = fwd(torch.from_numpy(x))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-5)


def test_graph_passes_on_a_tiny_conv_net():
    net = torch.nn.Sequential(
        torch.nn.Conv1d(3, 4, 5, padding=2), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
        torch.nn.ConvTranspose1d(4, 4, 7, stride=4), torch.nn.ReLU(), torch.nn.Conv1d(4, 3, 1),
        torch.nn.Softmax(dim=1),
    ).eval()
    import io

    buf = io.BytesIO()
    x = _windows(3, 200)
    torch.onnx.export(net, (torch.from_numpy(x),), buf, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17, dynamo=False)
    model = rewrites.softmax_explicit(rewrites.conv1d_as_conv2d(onnx.load_from_string(buf.getvalue())))
    onnx.checker.check_model(model)
    convs = [n for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")]
    assert len(convs) == 3 and all(len(next(a.ints for a in n.attribute if a.name == "kernel_shape")) == 2
                                   for n in convs)
    assert not any(n.op_type == "Softmax" for n in model.graph.node)
    session = ort_runtime.cpu_session(model.SerializeToString())
    with torch.inference_mode():
        want = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"x": x})[0], want, rtol=0, atol=1e-5)


def test_threads_and_micro_batches_do_not_change_outputs(phasenet):
    args = dict(phasenet.default_args)
    x = torch.from_numpy(_windows(11, phasenet.in_samples))
    one = ort_runtime.OnnxForward(phasenet, 3, phasenet.in_samples, args, threads=1, micro_batch=64)(x)
    fwd = ort_runtime.OnnxForward(phasenet, 3, phasenet.in_samples, args, threads=2, micro_batch=3)
    two, again = fwd(x), fwd(x)  # the second call writes each micro-batch into its rows of one output
    assert fwd._out_layout == ((3, phasenet.in_samples), np.float32)
    assert one.shape == two.shape == (11, 3, phasenet.in_samples)
    np.testing.assert_allclose(one.numpy(), two.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(two.numpy(), again.numpy())


def test_openvino_micro_batches_write_into_one_output(phasenet):
    """OpenVINO's float32 pass over micro-batches on two threads (the last one padded), on the first
    call (outputs concatenated) and later ones (written in place, OpenVINO's tensors shared): the
    torch model's outputs."""
    pytest.importorskip("openvino")
    from seisforge.deploy.runtimes import openvino as ov_runtime

    args = dict(phasenet.default_args)
    x = torch.from_numpy(_windows(11, phasenet.in_samples))
    with torch.inference_mode():
        want = phasenet(phasenet.annotate_batch_pre(x, argdict=args)).numpy()
    fwd = ov_runtime.OpenVinoForward(phasenet, 3, phasenet.in_samples, args, threads=2, micro_batch=4, precision="f32")
    outs = [fwd(x).numpy() for _ in range(3)]
    for out in outs:
        np.testing.assert_allclose(out, want, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(outs[1], outs[2])
    assert not np.shares_memory(outs[1], outs[2])  # each call's output is its own, not a request's tensor


def test_sessions_write_no_profiles(phasenet, tmp_path, monkeypatch):
    """ONNX Runtime's profiler (off by default) would drop onnxruntime_profile__*.json into the cwd."""
    monkeypatch.chdir(tmp_path)
    fwd = ort_runtime.OnnxForward(phasenet, 3, phasenet.in_samples, dict(phasenet.default_args))
    fwd(torch.from_numpy(_windows(2, phasenet.in_samples)))
    assert not fwd.session.get_session_options().enable_profiling
    del fwd  # a profiling session writes its file when it ends
    gc.collect()
    assert not list(tmp_path.glob("onnxruntime_profile__*.json"))
