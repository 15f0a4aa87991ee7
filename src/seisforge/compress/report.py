"""The compression trade-off report: ``compression_report.json``, a Markdown table and a Pareto figure.

One row per model (the uncompressed base first), each with:

- ``parameters``, ``file_bytes`` (the model's own files) and ``macs_per_window`` (from the float ONNX
  graph: convolutions and transposed convolutions, which are all but a fraction of a percent of the work);
- ``latency_ms``: per window at batch 1 and at the pick engine's batch, median and p95, on ``torch``,
  ``onnxruntime`` and ``openvino`` (a runtime that cannot run the model is ``null``: an INT8 OpenVINO IR
  has no torch or ONNX form);
- ``station_days_per_s``: the pick engine (:class:`seisforge.deploy.engine.FastPicker`, what
  ``seisforge pick`` runs per station-day) on a synthetic station-day
  (:func:`seisforge.testing.continuous_stream`), in process, start-up excluded;
- ``test_metrics`` with event-bootstrap CIs (:func:`seisforge.bench.picking.score.score`) and ``paired``:
  the differences against the base with paired CIs (:func:`seisforge.bench.picking.score.paired_compare`);
- ``agreement``: the model's picks against the base's on the same continuous day, F1 at one sample and
  at 0.1 s (:func:`seisforge.testing.pick_set_f1`), and the peak-time shift distribution;
- ``false_picks_per_station_hour`` on noise-only data, beside the base's.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seisforge.errors import ConfigError, DataError
from seisforge.models.loaded import LoadedModel
from seisforge.runinfo import cpu_flags, environment

#: the issue's pick-agreement tolerance (s): the report's "F1 at 0.1 s"; dev tuning and selection use it too
AGREEMENT_TOLERANCE_S = 0.1

RUNTIMES = ("torch", "onnxruntime", "openvino")
REPORT = "compression_report.json"


@dataclass
class ReportSettings:
    """What the report measures, and how long that takes."""

    dataset: str | None = None
    targets: str | None = None
    engine_batch: int = 256
    repeats_batch1: int = 30
    repeats_batch: int = 5
    station_hours: float = 24.0
    noise_hours: float = 2.0
    n_boot: int = 200
    seed: int = 0


def spec_of_dir(path: str | Path) -> str:
    """The registry spec of a compress output folder (``run:``, ``onnx:`` or ``openvino:``)."""
    path = Path(path)
    if (path / "best" / "seisforge.json").is_file():
        return f"run:{path}"
    if (path / "model.xml").is_file():
        return f"openvino:{path}"
    if (path / "model.onnx").is_file():
        return f"onnx:{path}"
    raise DataError(f"{path}: not a compressed model folder (no best/, model.xml or model.onnx)")


def model_files(loaded: LoadedModel) -> list[Path]:
    """The files that make up a model as deployed (safetensors of a run, the ONNX file, the IR pair)."""
    spec = loaded.spec
    kind, _, arg = spec.partition(":")
    path = Path(arg)
    if kind == "run":
        return [path / "best" / "model.safetensors"]
    if kind == "seisbench":  # source "PREFIX (vN)" of a weight pair: PREFIX.pt.vN
        head, _, version = loaded.source.partition(" (v")
        pt = Path(head + (f".pt.v{version.rstrip(')')}" if version else ".pt"))
        return [pt] if pt.is_file() else []
    if kind == "onnx":
        return [path / "model.onnx" if path.is_dir() else path]
    if kind == "openvino":
        xml = path / "model.xml" if path.is_dir() else path
        return [xml, xml.with_suffix(".bin")]
    return []


def weight_bytes(files: list[Path] | bytes) -> int:
    """Bytes of the stored weights: the IR's ``.bin``, an ONNX file's initializers, a safetensors file.

    For small pickers the rest of an artifact (the IR's XML topology, ~100 kB for PhaseNetLight, or the
    ONNX graph) is a large share of the file, and does not shrink with the weights' precision.
    """
    import onnx

    if isinstance(files, bytes):
        return sum(len(i.raw_data) or onnx.numpy_helper.to_array(i).nbytes
                   for i in onnx.load_from_string(files).graph.initializer)
    total = 0
    for f in files:
        if f.suffix == ".onnx":
            total += weight_bytes(f.read_bytes())
        elif f.suffix != ".xml":
            total += f.stat().st_size
    return total


def ov_macs(model: Any) -> int:
    """MACs per window of an OpenVINO model (from an ONNX graph or an IR, INT8 included).

    Written here because no maintained library counts MACs of transposed 1-D convolutions in an ONNX
    graph or an IR; OpenVINO reshaped to one window gives every shape statically.
    """
    shape = list(model.inputs[0].get_partial_shape())
    model.reshape([1, *[d.get_length() for d in shape[1:]]])
    macs = 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind not in ("Convolution", "ConvolutionBackpropData", "GroupConvolution"):
            continue
        weight = [int(d) for d in op.input(1).get_shape()]
        if kind == "ConvolutionBackpropData":  # each input element spreads over C_out * k outputs
            macs += int(np.prod(list(op.input(0).get_shape()))) * int(np.prod(weight[1:]))
        elif kind == "GroupConvolution":  # weight (G, C_out/G, C_in/G, k)
            macs += int(np.prod(list(op.output(0).get_shape()))) * int(np.prod(weight[2:]))
        else:  # each output element: C_in * k MACs
            macs += int(np.prod(list(op.output(0).get_shape()))) * int(np.prod(weight[1:]))
    return macs


def graph_stats(graph: bytes) -> dict[str, int]:
    """Parameters (float initializers; batch norm is folded in) and MACs per window of an ONNX graph."""
    import onnx
    import openvino as ov
    from onnx import numpy_helper

    proto = onnx.load_from_string(graph)
    params = sum(int(numpy_helper.to_array(i).size) for i in proto.graph.initializer
                 if i.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16) and len(i.dims) >= 1)
    return {"parameters": params, "macs_per_window": ov_macs(ov.Core().read_model(graph, b""))}


def _timings(run, x: np.ndarray, repeats: int) -> dict[str, float]:
    run(x)  # warm-up (compilation, allocation)
    per_window = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(x)
        per_window.append((time.perf_counter() - t0) / len(x) * 1e3)
    return {"median": float(np.median(per_window)), "p95": float(np.percentile(per_window, 95))}


def _runners(loaded: LoadedModel, graph: bytes | None) -> dict[str, Any]:
    """Float32-in, probabilities-out callables of the network on each runtime it has a form for."""
    import openvino as ov
    import torch

    from seisforge.deploy.runtimes.onnx import cpu_session
    from seisforge.models.onnx_picker import OnnxPicker, OpenVinoPicker

    model = loaded.model
    runs: dict[str, Any] = {}
    if not isinstance(model, OnnxPicker):
        def torch_run(x):
            with torch.no_grad():
                return model(torch.from_numpy(x)).numpy()
        runs["torch"] = torch_run
    if isinstance(model, OpenVinoPicker):
        runs["openvino"] = model.run
        return runs
    if graph is not None:
        session = cpu_session(graph, threads=torch.get_num_threads())
        runs["onnxruntime"] = lambda x: session.run(["y"], {"x": x})[0]
        compiled = ov.Core().compile_model(ov.Core().read_model(graph, b""), "CPU",
                                           {"INFERENCE_PRECISION_HINT": "f32"})
        runs["openvino"] = lambda x: compiled(x)[0]
    return runs


def latency(loaded: LoadedModel, graph: bytes | None, settings: ReportSettings) -> dict[str, Any]:
    """Per-window latency (ms), batch 1 and engine batch, median and p95, on each runtime."""
    model = loaded.model
    rng = np.random.default_rng(settings.seed)
    shape = (len(model.component_order), int(model.in_samples))
    x1 = rng.standard_normal((1, *shape)).astype(np.float32)
    xb = rng.standard_normal((settings.engine_batch, *shape)).astype(np.float32)
    runs = _runners(loaded, graph)
    out: dict[str, Any] = {"engine_batch": settings.engine_batch}
    for name in RUNTIMES:
        run = runs.get(name)
        out[name] = None if run is None else {"batch1": _timings(run, x1, settings.repeats_batch1),
                                              "batch": _timings(run, xb, settings.repeats_batch)}
    return out


def continuous_picks(loaded: LoadedModel, stream, settings: ReportSettings) -> tuple[pd.DataFrame, float]:
    """The model's picks on ``stream`` through the pick engine, and the seconds it took (warm)."""
    from seisforge.deploy.engine import FastPicker
    from seisforge.testing import picks_frame

    picker = FastPicker(loaded.model, batch_size=settings.engine_batch, backend="auto", precision="fp32")
    t0 = time.perf_counter()
    picks = picker.classify(stream)
    return picks_frame(picks), time.perf_counter() - t0


def agreement(base: pd.DataFrame, other: pd.DataFrame, sampling_rate: float) -> dict[str, Any]:
    """Pick agreement with the base: F1 at one sample and at 0.1 s, the peak-time shifts (s) and what the
    picks without a partner within 0.1 s are (``unmatched``: counts per kind of
    :func:`~seisforge.bench.picking.continuous.unmatched_kinds`, for the base's and the model's picks)."""
    from seisforge.bench.picking.continuous import UNMATCHED_KINDS, match_pick_frames, unmatched_kinds
    from seisforge.testing import pick_set_f1

    one = 1.0 / sampling_rate
    m = match_pick_frames(base, other, AGREEMENT_TOLERANCE_S)
    shift = m.residual.dropna().to_numpy(dtype=float)
    quantiles = {f"q{int(q * 100):02d}": float(np.quantile(shift, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)} \
        if len(shift) else {}
    kinds = unmatched_kinds(base, other, m)
    unmatched = {name: {k: int(((kinds.side == side) & (kinds.kind == k)).sum()) for k in UNMATCHED_KINDS}
                 for name, side in (("base_only", "ref"), ("model_only", "est"))}
    return {"f1_one_sample": pick_set_f1(base, other, one + 1e-6)["f1"], "f1_0.1s": pick_set_f1(base, other, AGREEMENT_TOLERANCE_S, m)["f1"],
            "one_sample_s": one, "shift_s": {"n": int(len(shift)), **quantiles,
                                             "max_abs": float(np.abs(shift).max()) if len(shift) else None,
                                             "exact_fraction": float(np.mean(np.abs(shift) < one / 2))
                                             if len(shift) else None},
            "unmatched": unmatched}


def bench_metrics(loaded: LoadedModel, pred_dir: Path, settings: ReportSettings) -> dict[str, Any] | None:
    """Pick-benchmark predictions and test metrics (event-bootstrap CIs) of ``loaded``, or None without data."""
    from seisforge.bench.picking.predict import predict
    from seisforge.bench.picking.score import score

    if not (settings.dataset and settings.targets):
        return None
    predict(settings.dataset, settings.targets, loaded.spec, pred_dir, model=loaded)
    metrics = score(pred_dir, n_boot=settings.n_boot, seed=settings.seed)
    return {"metrics": metrics.get("metrics", {}), "ci95": metrics.get("ci95", {})}


def _run_card(loaded: LoadedModel):
    from seisforge.models.card import read_card

    path = Path(loaded.spec[4:]) / "model_card.json" if loaded.spec.startswith("run:") else None
    return read_card(path) if path is not None and path.is_file() else None


def model_row(loaded: LoadedModel, work: Path, settings: ReportSettings, streams) -> dict[str, Any]:
    """Everything the report holds for one model except the comparisons with the base."""
    from seisforge.deploy.runtimes.artifact import network_graph
    from seisforge.models.onnx_picker import OpenVinoPicker

    graph = None if isinstance(loaded.model, OpenVinoPicker) else network_graph(loaded)
    card = getattr(loaded.model, "card", None) or _run_card(loaded)
    stats = graph_stats(graph) if graph is not None else dict(getattr(card, "parameters", {}) or {})
    if graph is None:
        import openvino as ov

        stats["macs_per_window"] = ov_macs(ov.Core().read_model(str(model_files(loaded)[0])))
    recorded = dict(getattr(card, "parameters", {}) or {})  # an artifact's card holds its torch count
    torch_count = int(sum(p.numel() for p in loaded.model.parameters()))
    stats["parameters"] = torch_count or recorded.get("parameters") or stats.get("parameters")
    files = model_files(loaded)
    day, noise = streams
    picks, seconds = continuous_picks(loaded, day, settings)
    noise_picks, _ = continuous_picks(loaded, noise, settings)
    return {
        "spec": loaded.spec, "method": (getattr(card, "training", {}) or {}).get("method", "none"),
        "parameters": stats.get("parameters"), "macs_per_window": stats.get("macs_per_window"),
        "file_bytes": int(sum(f.stat().st_size for f in files)) if files else None,
        "weight_bytes": weight_bytes(files) if files else None,
        "latency_ms": latency(loaded, graph, settings),
        "station_days_per_s": settings.station_hours / 24.0 / seconds,
        "false_picks_per_station_hour": len(noise_picks) / settings.noise_hours,
        "bench": bench_metrics(loaded, work / "pred", settings),
        "_picks": picks,
    }


def synthetic_streams(sampling_rate: float, settings: ReportSettings):
    """The continuous station-day (events every ~3 min) and the noise-only stretch every model sees."""
    from seisforge.testing import continuous_stream

    day_s, noise_s = settings.station_hours * 3600.0, settings.noise_hours * 3600.0
    day, _ = continuous_stream(duration_s=day_s, sampling_rate=sampling_rate, n_events=max(1, int(day_s / 180)),
                               seed=settings.seed)
    noise, _ = continuous_stream(duration_s=noise_s, sampling_rate=sampling_rate, n_events=0, seed=settings.seed + 1,
                                 station="XX.NOI.00")
    return day, noise


def build_report(specs: list[str | LoadedModel], out: str | Path, settings: ReportSettings) -> dict[str, Any]:
    """Measure every model of ``specs`` (the first is the uncompressed base) and write the report.

    ``specs`` are registry specs or already loaded models (a ``seisbench:`` base with its weights).
    """
    from tqdm import tqdm

    from seisforge.bench.picking.score import paired_compare
    from seisforge.models.registry import load_model

    if len(specs) < 2:
        raise ConfigError("the compression report needs the base model and at least one compressed model")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models = [s if isinstance(s, LoadedModel) else load_model(s) for s in specs]
    streams = synthetic_streams(float(models[0].model.sampling_rate), settings)
    rows = []
    for i, loaded in enumerate(tqdm(models, desc="compression report", unit="model")):
        rows.append(model_row(loaded, out / f"model_{i}", settings, streams))
    base = rows[0]
    for i, row in enumerate(rows):
        row["agreement"] = agreement(base["_picks"], row["_picks"], float(models[0].model.sampling_rate))
        row["base_false_picks_per_station_hour"] = base["false_picks_per_station_hour"]
        row["paired"] = (paired_compare(out / "model_0" / "pred", out / f"model_{i}" / "pred",
                                        n_boot=settings.n_boot, seed=settings.seed)
                         if i and base["bench"] and row["bench"] else None)
    for row in rows:
        row["n_picks_station_day"] = len(row.pop("_picks"))
    report = {"schema": "seisforge.compression_report/1", "base": models[0].spec, "settings": settings.__dict__,
              "machine": {"cpu_flags": cpu_flags(), **environment()}, "rows": rows}
    (out / REPORT).write_text(json.dumps(report, indent=2, default=_json_default))
    (out / "compression_report.md").write_text(markdown_table(report))
    pareto_figure(report, out / "compression_pareto.png")
    return report


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


def _recall(row: dict) -> float:
    met = (row.get("bench") or {}).get("metrics", {})
    vals = [met.get(f"test_{p}_recall") for p in ("P", "S")]
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


def _fastest_ms(row: dict, which: str = "batch") -> float:
    lat = [v[which]["median"] for k, v in row["latency_ms"].items() if k in RUNTIMES and v]
    return min(lat) if lat else float("nan")


def markdown_table(report: dict) -> str:
    """The report as a Markdown table (one line per model)."""
    head = ("| model | method | params | file kB (weights kB) | MMACs/window | ms/window b1 (torch/ORT/OV) | "
            "ms/window b{b} (torch/ORT/OV) | station-days/s | test P recall | test S recall | "
            "ΔP recall [95% CI] | ΔS recall [95% CI] | F1 vs base 1 sample | F1 vs base 0.1 s | "
            "median shift s | false picks/h (base) |")
    b = report["settings"]["engine_batch"]
    lines = [head.format(b=b), "|" + "---|" * (head.count("|") - 1)]

    def lat(row, which):
        return "/".join("–" if not row["latency_ms"].get(k) else f"{row['latency_ms'][k][which]['median']:.2f}"
                        for k in RUNTIMES)

    def delta(row, key):
        p = row.get("paired") or {}
        if key not in p.get("delta", {}):
            return "–"
        lo, hi = p["ci95"].get(key, [np.nan, np.nan])
        return f"{p['delta'][key]:+.3f} [{lo:+.3f}, {hi:+.3f}]"

    for row in report["rows"]:
        met = (row.get("bench") or {}).get("metrics", {})
        ag = row["agreement"]
        lines.append(
            f"| `{row['spec']}` | {row['method']} | {row['parameters']} | "
            f"{(row['file_bytes'] or 0) / 1e3:.1f} ({(row['weight_bytes'] or 0) / 1e3:.1f}) | {(row['macs_per_window'] or 0) / 1e6:.1f} | {lat(row, 'batch1')} | "
            f"{lat(row, 'batch')} | {row['station_days_per_s']:.3f} | {met.get('test_P_recall', float('nan')):.3f} | "
            f"{met.get('test_S_recall', float('nan')):.3f} | {delta(row, 'test_P_recall')} | "
            f"{delta(row, 'test_S_recall')} | {ag['f1_one_sample']:.3f} | {ag['f1_0.1s']:.3f} | "
            f"{ag['shift_s'].get('q50', float('nan')):.3f} | {row['false_picks_per_station_hour']:.2f} "
            f"({row['base_false_picks_per_station_hour']:.2f}) |")
    return "\n".join(lines) + "\n"


def pareto_figure(report: dict, path: Path) -> None:
    """Mean test P/S recall against file size and against latency per window (engine batch)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    colours = plt.get_cmap("tab10").colors  # colour-blind-safe enough with distinct markers
    markers = "os^DvP*Xh<>"
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, (xlabel, xs) in zip(axes, [("file size (kB)", [(r["file_bytes"] or 0) / 1e3 for r in rows]),
                                       (f"latency per window, batch {report['settings']['engine_batch']}, "
                                        "fastest runtime (ms)", [_fastest_ms(r) for r in rows])]):
        for i, (row, x) in enumerate(zip(rows, xs)):
            ax.scatter(x, _recall(row), color=colours[i % 10], marker=markers[i % len(markers)],
                       label=f"{i}: {row['method']}")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean test P/S pick recall")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)
