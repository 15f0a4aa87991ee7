"""Post-training INT8 quantization with accuracy control, and float16 weights.

Two INT8 paths, both static (calibrated) quantization of the network alone (the per-window
normalisation stays float, outside the graph, as in every exported seisforge artifact):

- ``openvino`` (default): NNCF's ``quantize_with_accuracy_control`` on the OpenVINO model. Its
  validation function is the pick-benchmark dev metric below; NNCF reverts the layers that cost most
  accuracy to float until the drop is within ``max_drop``.
- ``nncf-onnx``: the same NNCF accuracy control on NNCF's ONNX backend (:func:`quantize_onnx_nncf`),
  saved as an ONNX QDQ file: for a small picker far smaller than the IR, whose XML topology outweighs
  its int8 weights.
- ``onnxruntime``: ONNX Runtime's ``quantize_static`` (QDQ format, per-channel int8 weights, int8
  activations, float32 biases as NNCF keeps them: ``QuantizeBias=False``), calibrated on the same windows;
  its drop is measured and checked the same way, but no layer is reverted. Int32 biases (ORT's default)
  cost PhaseNetLight a dequantize node and a per-channel scale vector per layer (4 % of the file) and
  round the bias; float biases were as accurate on dev and no slower (docs/compression.md).

Both ONNX paths fold the batch norms behind transposed convolutions first and store the result through
:func:`~seisforge.deploy.runtimes.compact.compact_graph` (lossless: the same outputs bit for bit; file
sizes of each variant: ``experiments/int8_size.py``, docs/compression.md).

Layers kept float by choice: the final softmax (``Softmax`` nodes: quantizing probabilities near the
trigger thresholds moves picks) and, for ONNX Runtime, nothing else; NNCF adds layers itself when the
accuracy control needs them, and the report lists them.

The validation metric is the mean of dev P and S pick recall at dev-tuned thresholds, computed with the
benchmark's own functions (:func:`seisforge.bench.picking.metrics.task3_metrics` on dev windows, with dev
noise windows for the thresholds). ``max_drop`` is absolute on that mean (0.01 = one point). A target that
cannot be met stops with the best drop reached; nothing falls back silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.bench.picking.metrics import task3_metrics
from seisforge.bench.picking.predict import target_windows
from seisforge.deploy.runtimes.compact import compact_graph
from seisforge.errors import ConfigError, DataError
from seisforge.models.loaded import LoadedModel
from seisforge.models.window_picker import as_window_picker, outputs_from_probabilities

log = logging.getLogger(__name__)

MIN_CALIBRATION_WINDOWS = 32


@dataclass
class DevSet:
    """Dev windows (normalised model inputs) with their targets, for calibration and validation."""

    x: np.ndarray
    borders: np.ndarray
    rows: pd.DataFrame
    labels: str

    def __len__(self) -> int:
        return len(self.x)


def dev_set(loaded: LoadedModel, dataset: str | Path, targets: str | Path) -> DevSet:
    """The dev target windows of ``dataset`` as the model sees them in ``bench predict``."""
    picker = as_window_picker(loaded)
    x, borders, rows = target_windows(dataset, targets, picker, split="dev")
    if not (rows["_group"] == "dev_task23").any():
        raise DataError(f"{targets}: no dev task-2/3 windows; accuracy control needs labelled dev arrivals")
    return DevSet(x, borders, rows, picker.labels)


def dev_metric(probs: np.ndarray, dev: DevSet, idx: np.ndarray | None = None) -> float:
    """Mean dev P and S pick recall (dev-tuned thresholds) of class probabilities ``probs`` (N, K, T)."""
    idx = np.arange(len(dev)) if idx is None else np.asarray(idx)
    rows = dev.rows.iloc[idx].copy()
    out = outputs_from_probabilities(probs, dev.borders[idx], dev.labels)
    for key, value in out.items():
        rows[key] = value
    rows["p_sample_pred"] = out["p_local"] + rows["start_sample"].to_numpy()
    rows["s_sample_pred"] = out["s_local"] + rows["start_sample"].to_numpy()
    arrivals = rows[rows["_group"] == "dev_task23"]
    noise = rows[(rows["_group"] == "dev_task1") & (rows.get("trace_type") == "noise")]
    met, _ = task3_metrics(arrivals, arrivals, noise, noise, {})
    recalls = [met.get(f"test_{p}_recall", np.nan) for p in ("P", "S")]
    return float(np.nanmean(recalls)) if np.isfinite(recalls).any() else 0.0


def run_batched(run, x: np.ndarray, batch: int = 128) -> np.ndarray:
    """``run`` (float32 batch -> probabilities) over ``x`` in batches."""
    return np.concatenate([np.asarray(run(x[i:i + batch])) for i in range(0, len(x), batch)])


def calibration_windows(dev: DevSet, n: int, seed: int) -> np.ndarray:
    """``n`` dev windows drawn without replacement (all when fewer), seeded."""
    if len(dev) < MIN_CALIBRATION_WINDOWS:
        raise DataError(f"only {len(dev)} dev windows; INT8 calibration needs at least "
                        f"{MIN_CALIBRATION_WINDOWS} (use a larger dev split)")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(dev), size=min(n, len(dev)), replace=False))
    return dev.x[pick]


class AccuracyTargetNotMet(DataError):
    """The quantized model loses more than ``max_drop`` on the dev metric."""


def check_drop(before: float, after: float, max_drop: float, what: str) -> float:
    """The drop ``before - after``; :class:`AccuracyTargetNotMet` when it exceeds ``max_drop``."""
    drop = before - after
    if drop > max_drop + 1e-12:
        raise AccuracyTargetNotMet(
            f"{what}: the dev metric (mean P/S recall) dropped {drop:.4f} ({before:.4f} -> {after:.4f}), more "
            f"than --max-drop {max_drop:g}; this is the best drop reached. Raise --max-drop, add calibration "
            "windows, or keep the float model."
        )
    return drop


def quantize_openvino(graph: bytes, dev: DevSet, calib: np.ndarray, max_drop: float):
    """NNCF accuracy-controlled INT8 of an ONNX network graph; returns ``(ov_model, info)``."""
    import nncf
    import openvino as ov

    core = ov.Core()
    model = core.read_model(graph, b"")
    fp32 = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    before = dev_metric(run_batched(lambda b: fp32(b)[0], dev.x), dev)

    def validate(compiled, items) -> float:
        idx = np.fromiter(items, dtype=int)
        return dev_metric(run_batched(lambda b: compiled(b)[0], dev.x[idx]), dev, idx)

    quantized = nncf.quantize_with_accuracy_control(
        model, nncf.Dataset([calib[i:i + 1] for i in range(len(calib))]),
        nncf.Dataset(list(range(len(dev)))), validate, max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE, subset_size=len(calib),
        ignored_scope=nncf.IgnoredScope(types=["Softmax"], validate=False),
    )
    int8 = core.compile_model(quantized, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    after = dev_metric(run_batched(lambda b: int8(b)[0], dev.x), dev)
    drop = check_drop(before, after, max_drop, "INT8 (OpenVINO NNCF, accuracy control)")
    return quantized, {"dev_metric_fp32": before, "dev_metric_int8": after, "dev_drop": drop}


def quantize_onnxruntime(graph: bytes, dev: DevSet, calib: np.ndarray, max_drop: float, out: Path):
    """ONNX Runtime static QDQ INT8 (per-channel weights); returns ``(model_path, info)``."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from seisforge.deploy.runtimes.onnx import cpu_session
    from seisforge.deploy.runtimes.rewrites import fold_batchnorm

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"x": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.items, None)

    proto = fold_batchnorm(onnx.load_from_string(graph))  # exact up to rounding; fewer tensors to quantize
    graph = proto.SerializeToString()
    softmax = [n.name for n in proto.graph.node if n.op_type == "Softmax"]
    fp32_path, int8_path = out / "_fp32.onnx", out / "model.onnx"
    fp32_path.write_bytes(graph)
    quantize_static(str(fp32_path), str(int8_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, nodes_to_exclude=softmax,
                    extra_options={"QuantizeBias": False})
    fp32_path.unlink()
    int8_path.write_bytes(compact_graph(int8_path.read_bytes()))
    runs = {name: (lambda x, sess=cpu_session(data, threads=0): sess.run(["y"], {"x": x})[0]) for name, data in
            (("fp32", graph), ("int8", int8_path.read_bytes()))}
    before = dev_metric(run_batched(runs["fp32"], dev.x), dev)
    after = dev_metric(run_batched(runs["int8"], dev.x), dev)
    drop = check_drop(before, after, max_drop, "INT8 (ONNX Runtime QDQ)")
    return int8_path, {"dev_metric_fp32": before, "dev_metric_int8": after, "dev_drop": drop,
                       "float_nodes": softmax}


def validate_max_drop(max_drop: float) -> float:
    """``max_drop`` must lie in [0, 1) (an absolute drop of a recall)."""
    if not 0 <= max_drop < 1:
        raise ConfigError(f"--max-drop must be in [0, 1) (absolute drop of mean dev P/S recall), got {max_drop}")
    return max_drop


def quantize_onnx_nncf(graph: bytes, dev: DevSet, calib: np.ndarray, max_drop: float):
    """NNCF accuracy-controlled INT8 of an ONNX graph, as an ONNX QDQ graph; returns ``(onnx_model, info)``.

    The same algorithm and validation function as :func:`quantize_openvino`, on NNCF's ONNX backend: the
    result is an ONNX file (ONNX Runtime and OpenVINO both run it) instead of an OpenVINO IR, whose XML
    topology is larger than the int8 weights of a small picker.
    """
    import nncf
    import onnx

    from seisforge.deploy.runtimes.onnx import cpu_session
    from seisforge.deploy.runtimes.rewrites import fold_batchnorm

    def metric(model: onnx.ModelProto, idx: np.ndarray | None = None) -> float:
        sess = cpu_session(model.SerializeToString(), threads=0)
        x = dev.x if idx is None else dev.x[idx]
        return dev_metric(run_batched(lambda b: sess.run(["y"], {"x": b})[0], x), dev, idx)

    def validate(model: onnx.ModelProto, items) -> float:
        return metric(model, np.fromiter(items, dtype=int))

    model = fold_batchnorm(onnx.load_from_string(graph))  # as in quantize_onnxruntime
    before = metric(model)
    quantized = nncf.quantize_with_accuracy_control(
        model, nncf.Dataset([{"x": calib[i:i + 1]} for i in range(len(calib))]),
        nncf.Dataset(list(range(len(dev)))), validate, max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE, subset_size=len(calib),
        ignored_scope=nncf.IgnoredScope(types=["Softmax"], validate=False),
    )
    after = metric(quantized)
    drop = check_drop(before, after, max_drop, "INT8 (NNCF on ONNX, accuracy control)")
    return quantized, {"dev_metric_fp32": before, "dev_metric_int8": after, "dev_drop": drop}
