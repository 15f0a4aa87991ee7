"""Int8 picking study: does ONNX Runtime static int8 quantisation keep SeisBench's picks?

Usage: ``python experiments/int8_pick.py [--hours 6]`` (PhaseNetLight ETHZ weights and OBS data from ``shared``)

Not part of ``seisforge pick``: the result (``docs/deploy.md``, "Speed") was that int8 does not keep
pick F1 >= 0.99 at one-sample tolerance, so no ``--precision int8`` option was added.

Recipe: the graph ``seisforge pick`` runs (per-window normalisation + model, exported in memory) is
quantised with ONNX Runtime's own ``quant_pre_process`` + ``quantize_static``: QDQ format, per-channel
symmetric int8 weights, uint8 activations, calibrated on 256 windows of a synthetic 3-C station stream
with another seed than the test stream. The normalisation nodes (before the first convolution) and the
softmax stay in float32. Agreement is measured against SeisBench ``classify`` at several tolerances on
a synthetic stream and on the OBS test data, with PhaseNetLight ETHZ weights (a random-init PhaseNet
picks only ~2 times a day); the forward time is measured for PhaseNet and PhaseNetLight on 256 windows
(micro-batches of 16, two threads, as ``seisforge pick`` runs it).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import obspy
import onnx
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from seisforge.deploy.engine import FastPicker
from seisforge.deploy.runtimes import onnx as ort_runtime
from seisforge.deploy.runtimes.export import export_graph
from seisforge.models.registry import load_model
from seisforge.paths import shared_dir
from seisforge.testing import continuous_stream, pick_set_f1, picks_frame


def windows(in_samples: int, n: int, seed: int) -> np.ndarray:
    """``n`` raw 3-C windows every half window from a synthetic stream with events."""
    step = in_samples // 2
    duration = (n * step + in_samples) / 100 + 1
    stream, _ = continuous_stream(duration_s=duration, n_events=max(1, int(duration // 120)), seed=seed)
    data = np.stack([tr.data for tr in stream]).astype(np.float32)
    return np.ascontiguousarray(np.stack([data[:, o : o + in_samples] for o in range(0, n * step, step)]))


def quantize(graph: bytes, calibration: np.ndarray, method: str) -> bytes:
    """Static int8 quantisation of an exported ``x -> y`` graph (see the module docstring)."""

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"x": calibration[i : i + 32]} for i in range(0, len(calibration), 32)])

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, out = (str(Path(tmp) / n) for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        Path(src).write_bytes(graph)
        quant_pre_process(src, pre)
        nodes = list(onnx.load(pre).graph.node)
        first_conv = next(i for i, n in enumerate(nodes) if n.op_type == "Conv")
        keep = [n.name for n in nodes[:first_conv]] + [n.name for n in nodes if n.op_type == "Softmax"]
        quantize_static(pre, out, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=keep,
                        calibrate_method=getattr(CalibrationMethod, method))
        return Path(out).read_bytes()


def exported(model) -> bytes:
    """The fp32 graph ``seisforge pick`` exports (normalisation + model), before its own rewrites."""
    graph, _, _ = export_graph(model, 3, model.in_samples, dict(model.default_args))
    return graph


def int8_picker(model, method: str) -> FastPicker:
    """A FastPicker whose ONNX session runs the int8 graph."""
    picker = FastPicker(model, batch_size=256, backend="onnx")
    graph = quantize(exported(model), windows(model.in_samples, 256, 20240601), method)
    picker.passes.exact.run.session = ort_runtime.cpu_session(graph)
    return picker


def forward_seconds(session, x: np.ndarray, repeats: int = 5) -> float:
    """Median time of 256 windows in micro-batches of 16 on two threads."""
    pool = ThreadPoolExecutor(2)
    chunks = [x[i : i + 16] for i in range(0, len(x), 16)]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        list(pool.map(lambda c: session.run(None, {"x": c}), chunks))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=6.0)
    p.add_argument("--methods", nargs="+", default=["MinMax", "Percentile", "Entropy"])
    args = p.parse_args()
    root = shared_dir()
    if root is None:
        p.error("shared folder (PhaseNetLight ETHZ weights, OBS data) not found")
    args.weights = str(root / "models" / "phasenetlight_ethz" / "ethz")
    args.obs = str(root / "data" / "obs_iquique")
    torch.set_num_threads(2)

    print("forward time of 256 windows (fp32 = seisforge's rewritten graph):")
    for name, weights in (("PhaseNet", None), ("PhaseNetLight", args.weights)):
        torch.manual_seed(0)
        model = load_model(f"seisbench:{name}", weights=weights, allow_random=weights is None).model
        x = windows(model.in_samples, 256, 7)
        fp32 = FastPicker(model, backend="onnx").passes.exact.run.session
        int8 = ort_runtime.cpu_session(quantize(exported(model), windows(model.in_samples, 256, 20240601), "MinMax"))
        t32, t8 = forward_seconds(fp32, x), forward_seconds(int8, x)
        print(f"  {name}: fp32 {t32:.3f} s, int8 {t8:.3f} s, int8 speed-up {t32 / t8:.2f}x")

    model = load_model("seisbench:PhaseNetLight", weights=args.weights).model
    streams = {
        f"synthetic {args.hours:g} h": continuous_stream(duration_s=args.hours * 3600, n_events=int(20 * args.hours),
                                                         seed=7)[0],
        "OBS (obs_iquique)": obspy.read(str(Path(args.obs) / "*"), format="MSEED"),
    }
    refs = {k: picks_frame(model.classify(st, batch_size=256).picks) for k, st in streams.items()}
    print("agreement with SeisBench classify, PhaseNetLight ETHZ, int8:")
    for method in args.methods:
        picker = int8_picker(model, method)
        for k, st in streams.items():
            est = picks_frame(picker.classify(st))
            row = []
            for tol in (1, 3, 10):
                s = pick_set_f1(refs[k], est, tolerance=tol / model.sampling_rate + 1e-6)
                row.append(f"F1@{tol} samples {s['f1']:.3f}")
            print(f"  {method:10s} {k}: SeisBench {len(refs[k])} picks, int8 {len(est)}; " + ", ".join(row))


if __name__ == "__main__":
    main()
