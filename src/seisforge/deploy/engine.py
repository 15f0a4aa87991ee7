"""Fast batched inference that reproduces SeisBench ``annotate``/``classify`` for array pickers.

The stream-level steps (merge, filter/resample, overlap sanitising, component mapping, grouping into
continuous blocks, block-to-array) call the SeisBench model's own methods, so those rules are exactly
SeisBench's. What is replaced is the per-window machinery: instead of one Python object per window,
asyncio queues and ObsPy traces for every annotation, windows are strided views of one float32 array,
batched across blocks, run under ``torch.inference_mode``, stacked with SeisBench's C
``stack_windows`` and turned into picks with ObsPy's ``trigger_onset`` straight from the arrays.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import obspy
import torch
from numpy.lib.stride_tricks import sliding_window_view

from seisforge.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class Block:
    """One continuous block of one instrument, as SeisBench groups it."""

    trace_id: str  # NET.STA.LOC
    start_time: obspy.UTCDateTime
    data: np.ndarray  # (components, samples) float32
    sampling_rate: float
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))


@dataclass
class Annotation:
    """Stacked prediction curves of one block: ``data[channel]`` starts at ``start_time``."""

    trace_id: str
    start_time: obspy.UTCDateTime
    sampling_rate: float
    data: np.ndarray  # (samples, classes) float32, NaN where no window covered


@dataclass
class Pick:
    """A pick as SeisBench's ``picks_from_annotations`` defines it."""

    trace_id: str
    phase: str
    peak_time: obspy.UTCDateTime
    peak_value: float
    start_time: obspy.UTCDateTime
    end_time: obspy.UTCDateTime


class FastPicker:
    """Batched, SeisBench-equivalent picking with a SeisBench array model.

    Parameters
    ----------
    model
        A loaded SeisBench ``WaveformModel`` with ``output_type == "array"`` whose forward pass returns
        one tensor (PhaseNet, PhaseNetLight and relatives).
    batch_size
        Windows per forward pass.
    device
        Torch device string (``cpu``, ``cuda``).
    backend
        ``torch``, ``onnx`` (ONNX Runtime, CPU) or ``auto`` (ONNX Runtime on CPU when installed,
        else torch).
    **kwargs
        Annotate/classify arguments exactly as SeisBench takes them (``overlap``, ``blinding``,
        ``stacking``, ``P_threshold``, ``S_threshold``, ``strict``, ...). They override the model's
        ``default_args`` like in SeisBench.
    """

    def __init__(self, model: Any, batch_size: int = 256, device: str = "cpu", backend: str = "auto",
                 **kwargs: Any) -> None:
        if getattr(model, "output_type", None) != "array":
            raise ConfigError(
                f"{type(model).__name__} is not an array picker (output_type={model.output_type!r}); "
                "seisforge pick supports SeisBench array models such as PhaseNet"
            )
        if model._grouping.grouping != "instrument":
            raise ConfigError(f"{type(model).__name__}: only instrument grouping is supported")
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.argdict: dict[str, Any] = dict(model.default_args)
        self.argdict.update({k: v for k, v in kwargs.items() if v is not None})
        self.argdict["batch_size"] = self.batch_size
        self.labels = list(model.labels)
        from seisforge.deploy import onnx_backend

        if backend not in ("auto", "torch", "onnx"):
            raise ConfigError(f"backend must be auto, torch or onnx, got {backend!r}")
        if backend == "onnx" and not onnx_backend.available():
            raise ConfigError("backend onnx needs onnxruntime and onnx: pip install onnxruntime onnx")
        if backend == "onnx" and self.device.type != "cpu":
            raise ConfigError("backend onnx runs on the CPU; use --backend torch with --device cuda")
        use_onnx = backend == "onnx" or (backend == "auto" and self.device.type == "cpu"
                                         and onnx_backend.available())
        self._onnx = None
        if use_onnx:
            try:
                self._onnx = onnx_backend.OnnxForward(
                    model, getattr(model, "in_channels", len(model.component_order)), model.in_samples,
                    self.argdict)
            except Exception as err:  # noqa: BLE001 - export can fail for exotic models
                if backend == "onnx":
                    raise ConfigError(f"ONNX export of {type(model).__name__} failed: {err}") from err
                log.warning("ONNX export of %s failed (%s); using torch", type(model).__name__, err)
        self.backend = "onnx" if self._onnx is not None else "torch"

    # ------------------------------------------------------------------ stream -> blocks
    def _arg(self, key: str) -> Any:
        return self.model._argdict_get_with_default(self.argdict, key)

    def threshold(self, phase: str) -> float:
        """Trigger threshold of ``phase`` (argument, else model default, else SeisBench's 0.3)."""
        default = self.model._annotate_args.get("*_threshold", (None, 0.3))[1]
        return float(self.argdict.get(f"{phase}_threshold", default))

    def blocks(self, stream: obspy.Stream) -> list[Block]:
        """Group a stream into continuous per-instrument blocks with SeisBench's rules.

        The stream is copied; see :meth:`seisbench.models.WaveformModel.annotate` for the steps.
        """
        model = self.model
        stream = stream.copy()
        stream.merge(-1)
        if len(stream) == 0:
            return []
        argdict = dict(self.argdict)
        model.annotate_stream_pre(stream, argdict)
        stream = model.annotate_stream_validate(stream, argdict)
        if len(stream) == 0:
            return []
        fs = stream[0].stats.sampling_rate
        argdict["sampling_rate"] = fs
        comp_dict, _ = model._build_comp_dict(stream, self._arg("flexible_horizontal_components"))
        groups = model._grouping.group_stream(
            stream, strict=self._arg("strict"), min_length_s=(model.in_samples - 1) / fs, comp_dict=comp_dict
        )
        out = []
        for group in groups:
            gd = model.stream_to_array(group, argdict)
            in_samples, _ = model._get_in_pred_samples(gd)
            overlap = model._get_overlap(in_samples, argdict)
            n = gd.data.shape[-1]
            offsets = np.arange(0, n - in_samples + 1, in_samples - overlap)
            if len(offsets) and offsets[-1] + in_samples < n:
                offsets = np.concatenate([offsets, [n - in_samples]])
            out.append(
                Block(
                    trace_id=gd.stations[0],
                    start_time=gd.start_time,
                    data=np.ascontiguousarray(gd.data, dtype=np.float32),
                    sampling_rate=fs,
                    offsets=offsets.astype(np.intp),
                )
            )
        return out

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def _forward(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(self.device)
        piggyback = None
        if self._onnx is not None and self._onnx.includes_pre:
            pred = self._onnx(x)
        else:
            pre = self.model.annotate_batch_pre(x, argdict=self.argdict)
            if isinstance(pre, tuple):
                pre, piggyback = pre
            pred = self._onnx(pre) if self._onnx is not None else self.model(pre)
        pred = self.model.annotate_batch_post(pred, piggyback=piggyback, argdict=self.argdict)
        if not isinstance(pred, torch.Tensor):
            raise ConfigError(f"{type(self.model).__name__} returns {type(pred).__name__}; expected one tensor")
        return pred.float().cpu().numpy()

    @staticmethod
    def _copy_out(chunk: list[tuple[int, int, int]], preds: np.ndarray, blocks: list[Block],
                  per_block: dict[int, np.ndarray]) -> None:
        """Copy a batch's predictions into one ``(windows, samples, classes)`` array per block."""
        if preds.ndim == 2:
            preds = preds[..., None]
        i = 0
        while i < len(chunk):  # copy each run of consecutive windows of one block at once
            bi, wi, _ = chunk[i]
            j = i + 1
            while j < len(chunk) and chunk[j][0] == bi:
                j += 1
            if bi not in per_block:  # one (windows, samples, classes) array per block, filled in place
                per_block[bi] = np.empty((len(blocks[bi].offsets),) + preds.shape[1:], dtype=np.float32)
            per_block[bi][wi : wi + j - i] = preds[i:j]
            i = j

    def annotate(self, blocks: list[Block]) -> list[Annotation]:
        """Run the model on all windows of all blocks (batched across blocks) and stack per block."""
        from seisbench.ext import stack_windows

        in_samples, pred_sample = self.model.in_samples, self.model.pred_sample
        if isinstance(pred_sample, int):
            pred_sample = (0, pred_sample)
        jobs = [(bi, wi, off) for bi, b in enumerate(blocks) for wi, off in enumerate(b.offsets)]
        per_block: dict[int, np.ndarray] = {}
        views = [sliding_window_view(b.data, in_samples, axis=-1) for b in blocks]
        batches = [jobs[s : s + self.batch_size] for s in range(0, len(jobs), self.batch_size)]

        def run(chunk: list[tuple[int, int, int]]) -> np.ndarray:
            return self._forward(np.stack([views[bi][:, off] for bi, _, off in chunk]))

        # the next batch runs in a feeder thread while this one is copied out (one batch ahead)
        with ThreadPoolExecutor(1, thread_name_prefix="seisforge-feed") as feeder:
            pending = feeder.submit(run, batches[0]) if batches else None
            for k, chunk in enumerate(batches):
                preds = pending.result()
                if k + 1 < len(batches):
                    pending = feeder.submit(run, batches[k + 1])
                self._copy_out(chunk, preds, blocks, per_block)
        method = str(self._arg("stacking")).lower()
        out = []
        for bi, b in enumerate(blocks):
            if bi not in per_block:
                continue
            data = per_block.pop(bi)
            factor = data.shape[1] / (pred_sample[1] - pred_sample[0])
            stacked = stack_windows(
                windows=data, offsets=np.round(b.offsets * factor).astype(np.intp), method=method
            )
            out.append(
                Annotation(
                    trace_id=b.trace_id,
                    start_time=b.start_time + pred_sample[0] / b.sampling_rate,
                    sampling_rate=b.sampling_rate * factor,
                    data=stacked,
                )
            )
        return out

    # ------------------------------------------------------------------ picks
    def picks(self, annotations: list[Annotation]) -> list[Pick]:
        """Trigger picks per phase exactly as ``picks_from_annotations`` does, without ObsPy traces."""
        from obspy.signal.trigger import trigger_onset
        from seisbench.ext.utils import get_edge_indices

        picks: list[Pick] = []
        for ann in annotations:
            for ci, phase in enumerate(self.labels):
                if phase == "N":
                    continue
                curve = np.ascontiguousarray(ann.data[:, ci])
                b0, b1 = get_edge_indices(curve, edge_value=np.nan)
                curve = curve[b0:b1]
                if curve.size == 0:
                    continue
                start = ann.start_time + b0 / ann.sampling_rate
                thr = self.threshold(phase)
                for s0, s1 in trigger_onset(curve, thr, thr / 2):
                    seg = curve[s0 : s1 + 1]
                    peak = s0 + int(np.argmax(seg))
                    picks.append(
                        Pick(
                            trace_id=ann.trace_id,
                            phase=phase,
                            peak_time=start + peak / ann.sampling_rate,
                            peak_value=float(np.max(seg)),
                            start_time=start + s0 / ann.sampling_rate,
                            end_time=start + s1 / ann.sampling_rate,
                        )
                    )
        picks.sort(key=lambda p: (p.trace_id, p.peak_time.ns, p.phase))
        return picks

    def classify(self, stream: obspy.Stream) -> list[Pick]:
        """Stream in, picks out: the equivalent of SeisBench ``classify(stream, **kwargs).picks``."""
        return self.picks(self.annotate(self.blocks(stream)))
