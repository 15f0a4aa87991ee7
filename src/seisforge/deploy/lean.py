"""Picking without torch and SeisBench's model classes, for a process whose model is already cached.

A batch job that picks one station-day per process pays its imports every time: torch and SeisBench's
model classes (which import ``obspy.signal``, so ``scipy.signal`` and matplotlib) cost about 4 s of
a process that otherwise needs ~2-4 s for a station-day (figures in ``docs/compression.md``). Once a
full ``seisforge pick`` process has run a model through ONNX Runtime or OpenVINO in float32, with the
normalisation inside the graph, everything the picker needs from the model is a handful of numbers
and the graph. The full process stores them (:func:`remember`) in the on-disk cache
(:mod:`~seisforge.deploy.runtimes.cache`), keyed by the settings, the bytes of the model's files, the
software versions and the CPU; a later process with the same key (:func:`lean_model`) builds
:class:`LeanModel` and :class:`LeanPicker` from them and never imports torch or ``seisbench.models``.

The picks are the full path's: the same block, window, stacking and trigger code
(:mod:`~seisforge.deploy.blocks`, :mod:`~seisforge.deploy.inference`,
:mod:`~seisforge.deploy.triggers`) runs on :class:`LeanModel`, which answers the few questions
they ask a SeisBench model. Those answers re-implement, in a few lines each, SeisBench's
``WaveformModel`` rules for the streams a station-day normally is: every trace at the model's
sampling rate, no filter, each instrument's traces covering one contiguous span (any components, any
start offsets), no conflicting overlaps. A stream outside these (a gap that splits an instrument,
strict mode with unequal spans, unmapped or doubled components, resampling, segments shorter than a
window) raises :class:`NotLean` and is picked by the full path, loaded then; the unit's state counts it
(``handled.lean_fallback``). ``tests/test_lean_pick.py`` holds lean and full picks equal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import obspy

from seisforge.deploy.runtimes import cache

log = logging.getLogger(__name__)

#: bump when what a description means changes
LEAN_VERSION = 1
_FLEXIBLE = (("1", "N"), ("2", "E"))  # SeisBench's flexible horizontal components


class NotLean(Exception):
    """The input needs a SeisBench rule the lean path does not cover; the full path picks it."""


# ----------------------------------------------------------------------------- keys
def spec_files(settings: Any) -> list[Path] | None:
    """The files the settings' model is loaded from, or None when the lean path cannot key it."""
    from seisforge.models.registry import parse_spec

    if settings.device != "cpu" or settings.random_init or settings.pretrained:
        return None
    spec = parse_spec(settings.model)
    if spec.kind == "seisbench" and settings.weights:
        path = Path(settings.weights)
        files = (sorted(path.iterdir()) if path.is_dir()
                 else sorted(path.parent.glob(path.name.split(".")[0] + ".*")) if path.parent.is_dir() else [])
    elif spec.kind == "run":
        root = Path(spec.arg)
        files = sorted(p for p in (root / "best").rglob("*")) + [root / "model_card.json"]
    elif spec.kind in ("onnx", "openvino"):
        path = Path(spec.arg)
        files = sorted(path.iterdir()) if path.is_dir() else sorted(path.parent.glob(path.stem + ".*"))
    else:
        return None
    files = [p for p in files if p.is_file()]
    return files or None


def lean_key(settings: Any) -> str | None:
    """Cache key of the settings' lean description: settings, model file bytes, software, CPU."""
    files = spec_files(settings)
    if files is None or cache.cache_dir() is None:
        return None
    h = hashlib.sha256()
    try:
        for path in files:
            h.update(path.name.encode())
            h.update(path.read_bytes())
    except OSError:
        return None
    return cache.key_of("lean", version=LEAN_VERSION, settings=dataclasses.asdict(settings), files=h.hexdigest())


# ----------------------------------------------------------------------------- the full process writes
def remember(settings: Any, model: Any, card: Any, source: str, picker: Any) -> bool:
    """Store what a later process needs to pick without torch (see the module docstring).

    Only for a float32 ONNX Runtime or OpenVINO pass that includes the normalisation, on a model whose
    stream rules are SeisBench's defaults for array pickers (checked); True when stored.
    """
    from seisforge import seisbench_compat as sbc

    fwd = picker.passes.exact
    if fwd is None or picker.passes.bf16 is not None or not fwd.includes_pre:
        return False
    if fwd.backend == "openvino" and (fwd.run.pre is not None or fwd.run.centred or fwd.run.precision != "f32"):
        return False
    if fwd.backend not in ("onnx", "openvino") or not sbc.lean_compatible(model):
        return False
    key = lean_key(settings)
    if key is None:
        return False
    desc = {
        "version": LEAN_VERSION, "source": source, "card": card.to_dict() if card is not None else None,
        "model": {"in_samples": int(model.in_samples), "sampling_rate": float(model.sampling_rate),
                  "component_order": model.component_order, "labels": list(model.labels),
                  "pred_sample": model.pred_sample, "in_channels": int(picker.in_channels),
                  "annotate_args": sbc.annotate_arg_defaults(model)},
        "argdict": picker.argdict, "phases": picker.phases, "phase_channels": picker._phase_channels,
        "thresholds": {p: picker.threshold(p) for p in picker.phases},
        "backend": fwd.backend, "threads": fwd.run.threads, "micro_batch": fwd.run.micro_batch,
        "graph": f"{key}-graph",
    }
    try:
        text = json.dumps(desc)
    except (TypeError, ValueError):  # an argument JSON cannot hold: no lean path for this model
        return False
    cache.cached_bytes(desc["graph"], lambda: fwd.run.graph)
    cache.store_json(key, json.loads(text))
    return True


def description(settings: Any) -> dict[str, Any] | None:
    """The stored description for ``settings`` with its graph bytes (``desc["graph_bytes"]``), or None."""
    key = lean_key(settings)
    desc = cache.cached_json(key) if key is not None else None
    if not desc or desc.get("version") != LEAN_VERSION:
        return None
    desc["graph_bytes"] = cache.stored_bytes(desc["graph"])
    return desc if desc["graph_bytes"] else None


# ----------------------------------------------------------------------------- the model's answers
class LeanGrouping:
    """SeisBench's instrument grouping (``GroupingHelper``) for instruments covering one span each."""

    grouping = "instrument"

    @staticmethod
    def trace_id_without_component(trace: obspy.Trace) -> str:
        """``NET.STA.LOC``, as SeisBench keys an instrument."""
        return f"{trace.stats.network}.{trace.stats.station}.{trace.stats.location}"

    def group_stream(self, stream: obspy.Stream, strict: bool, min_length_s: float,
                     comp_dict: dict[str, int]) -> list[list[obspy.Trace]]:
        """One group per instrument, in stream order (SeisBench's result for these streams); else NotLean."""
        instruments: dict[str, list[obspy.Trace]] = defaultdict(list)
        for trace in stream:
            instruments[self.trace_id_without_component(trace)].append(trace)
        return [self._one_span(traces, strict, min_length_s, comp_dict) for traces in instruments.values()]

    @staticmethod
    def _one_span(traces: list[obspy.Trace], strict: bool, min_length_s: float,
                  comp_dict: dict[str, int]) -> list[obspy.Trace]:
        if any(tr.id[-1] not in comp_dict for tr in traces):
            raise NotLean("a component the model does not use")
        for tr in traces:  # GroupingHelper._align_fractional_samples: starts on the sample grid
            exact = tr.stats.starttime.timestamp
            aligned = np.round(exact * tr.stats.sampling_rate) / tr.stats.sampling_rate
            tr.stats.t_offset = exact - aligned
            tr.stats.starttime = obspy.UTCDateTime(aligned)
        spans = sorted((tr.stats.starttime, tr.stats.endtime) for tr in traces)
        if strict and (any(span != spans[0] for span in spans) or {comp_dict[tr.id[-1]] for tr in traces}
                       != set(range(max(comp_dict.values()) + 1))):
            raise NotLean("strict mode with unequal spans or missing components")
        end = spans[0][1]
        for start, stop in spans[1:]:
            if start > end:
                raise NotLean("a gap splits the instrument")
            end = max(end, stop)
        if end - spans[0][0] < min_length_s:
            raise NotLean("a span shorter than one window")
        return traces


class LeanModel:
    """What :mod:`~seisforge.deploy.blocks`, :mod:`~seisforge.deploy.inference` and the triggers ask a
    SeisBench array picker, answered from a stored description (see the module docstring)."""

    lean = True

    def __init__(self, desc: dict[str, Any]) -> None:
        from seisforge.models.card import ModelCard

        m = desc["model"]
        self.in_samples, self.sampling_rate = m["in_samples"], m["sampling_rate"]
        self.component_order, self.labels, self.in_channels = m["component_order"], m["labels"], m["in_channels"]
        self.pred_sample = m["pred_sample"] if isinstance(m["pred_sample"], int) else tuple(m["pred_sample"])
        self._annotate_args = {k: ("", v) for k, v in m["annotate_args"].items()}  # SeisBench's table shape
        self.description, self.argdict, self.source = desc, desc["argdict"], desc["source"]
        self.card = ModelCard(**desc["card"]) if desc["card"] is not None else None
        self._grouping = LeanGrouping()

    def _argdict_get_with_default(self, argdict: dict[str, Any], key: str) -> Any:
        return argdict.get(key, self._annotate_args.get(key, ("", None))[1])

    def _get_overlap(self, in_samples: int, argdict: dict[str, Any]) -> int:
        overlap = self._argdict_get_with_default(argdict, "overlap")
        return int(overlap * in_samples) if overlap < 1 else overlap

    def _get_in_pred_samples(self, group: Any) -> tuple[int, tuple[int, int]]:
        pred = (0, self.pred_sample) if isinstance(self.pred_sample, int) else self.pred_sample
        return self.in_samples, pred

    def _build_comp_dict(self, stream: obspy.Stream, flexible: bool) -> tuple[dict[str, int], str]:
        comp_dict = {c: i for i, c in enumerate(self.component_order)}
        if flexible:
            for a, b in _FLEXIBLE:
                if a in comp_dict:
                    comp_dict[b] = comp_dict[a]
                elif b in comp_dict:
                    comp_dict[a] = comp_dict[b]
            present: dict[str, set[str]] = defaultdict(set)
            for tr in stream:
                if tr.id[-1] in comp_dict and len(tr.data) > 0:
                    present[self._grouping.trace_id_without_component(tr)].add(tr.id[-1])
            if any({a, b} <= comps for comps in present.values() for a, b in _FLEXIBLE):
                raise NotLean("an instrument with both 1/N or 2/E components")
        return comp_dict, self.component_order

    def annotate_stream_pre(self, stream: obspy.Stream, argdict: dict[str, Any]) -> obspy.Stream:
        if any(tr.stats.sampling_rate != self.sampling_rate for tr in stream):
            raise NotLean("a trace off the model's sampling rate")
        return stream

    def annotate_stream_validate(self, stream: obspy.Stream, argdict: dict[str, Any]) -> obspy.Stream:
        stream.merge(-1)
        by_id: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
        for tr in stream:
            by_id[tr.id].append((tr.stats.starttime, tr.stats.endtime))
        for spans in by_id.values():
            spans.sort()
            if any(nxt[0] < max(s[1] for s in spans[:i + 1]) for i, nxt in enumerate(spans[1:])):
                raise NotLean("overlapping records of one channel")
        return stream

    @staticmethod
    def resample(stream: obspy.Stream, sampling_rate: float, zerophase: bool = True) -> None:
        raise NotLean("resampling")

    def annotate_batch_post_np(self, pred: np.ndarray, argdict: dict[str, Any]) -> np.ndarray:
        """SeisBench PhaseNet's ``annotate_batch_post`` in numpy: ``(N, C, L) -> (N, L, C)``, blinded."""
        out = np.swapaxes(pred, -1, -2)
        prenan, postnan = self._argdict_get_with_default(argdict, "blinding")
        if prenan > 0:
            out[:, :prenan] = np.nan
        if postnan > 0:
            out[:, -postnan:] = np.nan
        return out


# ----------------------------------------------------------------------------- the picker
class LeanPicker:
    """The picker protocol of :class:`~seisforge.deploy.engine.FastPicker` (``blocks`` -> ``annotate`` ->
    ``picks``, ``stats``, ``backend``, ``precision``) over a :class:`LeanModel` and its stored graph.

    ``full`` builds the full picker, the first time an input raises :class:`NotLean`.
    """

    precision = "fp32"

    def __init__(self, model: LeanModel, batch_size: int, full: Callable[[], Any]) -> None:
        from seisforge.deploy.inference import WindowRunner
        from seisforge.deploy.scratch import ScratchPool

        desc = model.description
        self.model, self.argdict, self.backend = model, model.argdict, desc["backend"]
        self.phases, self.thresholds = desc["phases"], {p: float(desc["thresholds"][p]) for p in desc["phases"]}
        self._block_pool = ScratchPool()
        self.forward = _forward(desc, model)
        # float32 only: windows are stacked as they come out, so the runner's prediction pool stays empty
        self.inference = WindowRunner(model, self.argdict, None, batch_size, desc["phase_channels"], ScratchPool())
        self._full_factory, self._full, self.fell_back = full, None, False
        self._stats = {"windows": 0, "refined_windows": 0, "max_bf16_error": 0.0, "fallbacks": 0}

    @property
    def stats(self) -> dict[str, Any]:
        """Counts as :attr:`FastPicker.stats`, the full picker's included."""
        if self._full is None:
            return dict(self._stats)
        full = self._full.stats
        return {k: (max if k == "max_bf16_error" else sum)((v, full.get(k, 0))) for k, v in self._stats.items()}

    @property
    def full(self) -> Any:
        """The full picker (built on first use)."""
        if self._full is None:
            self._full = self._full_factory()
        return self._full

    def blocks(self, stream: obspy.Stream) -> list[Any]:
        """Blocks as :meth:`FastPicker.blocks`; an input the lean rules do not cover goes to the full picker."""
        from seisforge.deploy.blocks import stream_blocks

        self._block_pool.reset()
        try:
            self.fell_back = False
            return stream_blocks(self.model, self.argdict, stream, self._block_pool, share_data=True)
        except NotLean as why:
            log.info("full picker for this input: %s", why)
            self.fell_back = True
            return self.full.blocks(stream)

    def annotate(self, blocks: list[Any]) -> list[Any]:
        """Stacked annotations of ``blocks`` (float32 pass only)."""
        from seisforge.deploy.inference import block_jobs

        if self.fell_back:
            return self.full.annotate(blocks)
        jobs = block_jobs(blocks)
        self._stats["windows"] += len(jobs)
        return self.inference.annotate(self.forward, blocks, jobs)

    def picks(self, annotations: list[Any]) -> list[Any]:
        """Trigger picks, as :meth:`FastPicker.picks`."""
        from seisforge.deploy.triggers import trigger_picks

        return self.full.picks(annotations) if self.fell_back else trigger_picks(annotations, self.thresholds)


def _forward(desc: dict[str, Any], model: LeanModel) -> Any:
    """The stored graph in the stored runtime, threads and micro-batch."""
    from seisforge.deploy.runtimes.forward import Forward

    if desc["backend"] == "onnx":
        from seisforge.deploy.runtimes.onnx import OnnxForward

        run = OnnxForward.from_graph(desc["graph_bytes"], True, desc["threads"], desc["micro_batch"])
    else:
        from seisforge.deploy.runtimes.openvino import OpenVinoForward

        run = OpenVinoForward.from_graph(desc["graph_bytes"], (model.in_channels, model.in_samples),
                                         desc["threads"], desc["micro_batch"])
    return Forward(run, desc["backend"])
