"""One compression step: load, compress, write the artifact, its card and ``compress_report.json``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from seisforge.compress import int8
from seisforge.compress.distill import KDSettings
from seisforge.compress.outputs import parent_card, write_report
from seisforge.compress.report import graph_stats
from seisforge.deploy.runtimes.artifact import (
    model_card_of,
    network_graph,
    prepare_out,
    save_onnx,
    save_openvino,
)
from seisforge.errors import ConfigError
from seisforge.models.loaded import LoadedModel

METHODS = ("distill", "prune", "int8", "fp16")
TRAINED = ("distill", "prune")
BACKENDS = ("openvino", "nncf-onnx", "onnxruntime")


def compress(loaded: LoadedModel, method: str, out: str | Path, dataset: str | Path | None = None,
             targets: str | Path | None = None, backend: str = "openvino", max_drop: float = 0.01,
             calibration_windows: int = 300, seed: int = 0, kd: KDSettings | None = None,
             student: str = "PhaseNetLight", student_width: float = 1.0, ratio: float = 0.5,
             teacher_weights: str | None = None, thresholds: str = "auto") -> dict[str, Any]:
    """Compress ``loaded`` with ``method`` into ``out``; returns the report (also written as JSON).

    ``distill`` and ``prune`` write a run directory (``run:OUT``, :mod:`seisforge.compress.trained`);
    ``int8`` and ``fp16`` an ONNX or OpenVINO artifact (``onnx:OUT`` / ``openvino:OUT``). ``thresholds``
    (``distill``/``prune``): how the output card's trigger thresholds are chosen
    (:mod:`seisforge.compress.thresholds`; with ``targets``, tuned on dev by default).
    """
    if method not in METHODS:
        raise ConfigError(f"--method must be one of {METHODS}, got {method!r}")
    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {BACKENDS}, got {backend!r}")
    if method in TRAINED:
        from seisforge.compress.trained import compress_trained

        return compress_trained(loaded, method, Path(out), kd or KDSettings(seed=seed), student=student,
                                student_width=student_width, ratio=ratio, teacher_weights=teacher_weights,
                                targets=targets, thresholds=thresholds)
    out = prepare_out(out)
    graph = network_graph(loaded)
    card = model_card_of(loaded, parent_card(loaded))
    stats = graph_stats(graph)
    if callable(getattr(loaded.model, "parameters", None)):  # the graph folds batch norm: count the model's
        stats["parameters"] = int(sum(p.numel() for p in loaded.model.parameters())) or stats["parameters"]
    card = dataclasses.replace(card, parameters={**card.parameters, **stats})
    if method == "fp16":
        path, info = _fp16(graph, card, loaded, out)
    else:
        path, info = _int8(graph, card, loaded, out, dataset, targets, backend, max_drop, calibration_windows, seed)
    return write_report(loaded, method, backend, path, graph, info, out)


def _with_training(card, **training: Any):
    return dataclasses.replace(card, training={**card.training, **training})


def _fp16(graph: bytes, card, loaded: LoadedModel, out: Path):
    import openvino as ov

    card = _with_training(card, method="fp16", parent=loaded.source, weights="float16 (OpenVINO IR)")
    return save_openvino(ov.Core().read_model(graph, b""), card, out, fp16=True), {}


def _int8(graph, card, loaded, out, dataset, targets, backend, max_drop, n_calib, seed):
    if dataset is None or targets is None:
        raise ConfigError("int8 needs --dataset and --targets: dev windows calibrate the quantization and "
                          "measure the accuracy drop (thresholds and selection use dev data only)")
    int8.validate_max_drop(max_drop)
    dev = int8.dev_set(loaded, dataset, targets)
    calib = int8.calibration_windows(dev, n_calib, seed)
    common = dict(method="int8", parent=loaded.source, backend=backend, max_drop=max_drop,
                  calibration_windows=len(calib), calibration_seed=seed, dev_windows=len(dev))
    if backend == "openvino":
        model, info = int8.quantize_openvino(graph, dev, calib, max_drop)
        return save_openvino(model, _with_training(card, **common, **info), out), info
    import onnx

    if backend == "nncf-onnx":
        model, info = int8.quantize_onnx_nncf(graph, dev, calib, max_drop)
        proto = onnx.load_from_string(int8.compact_graph(model.SerializeToString()))
        return save_onnx(proto, _with_training(card, **common, **info), out), info
    path, info = int8.quantize_onnxruntime(graph, dev, calib, max_drop, out)
    return save_onnx(onnx.load(str(path)), _with_training(card, **common, **info), out), info
