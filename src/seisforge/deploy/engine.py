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
    data: np.ndarray  # (samples, phases) float32 (phases as in FastPicker.phases), NaN where no window covered


@dataclass
class Pick:
    """A pick as SeisBench's ``picks_from_annotations`` defines it."""

    trace_id: str
    phase: str
    peak_time: obspy.UTCDateTime
    peak_value: float
    start_time: obspy.UTCDateTime
    end_time: obspy.UTCDateTime


def windows_covering(starts: np.ndarray, width: int, spans: np.ndarray) -> np.ndarray:
    """Indices of the windows that overlap any span.

    Parameters
    ----------
    starts
        Sorted window start samples; window ``w`` covers ``[starts[w], starts[w] + width)``.
    width
        Window length in samples.
    spans
        ``(k, 2)`` integer rows ``(first, last)``: samples ``first..last`` (inclusive), in the same
        coordinates as ``starts``.

    Returns
    -------
    numpy.ndarray
        Sorted unique window indices.
    """
    starts = np.asarray(starts, dtype=np.int64)
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    if len(spans) == 0:
        return np.zeros(0, dtype=np.intp)
    lo, hi = spans[:, 0], spans[:, 1]
    # w overlaps [lo, hi] when starts[w] <= hi and starts[w] + width > lo (starts and ends are sorted)
    first = np.searchsorted(starts + width, lo, side="right")
    stop = np.searchsorted(starts, hi, side="right")
    marks = np.zeros(len(starts) + 1, dtype=np.int64)
    np.add.at(marks, first, 1)
    np.add.at(marks, stop, -1)
    return np.flatnonzero(np.cumsum(marks)[:-1] > 0)


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
        Runtime of the float32 pass: ``torch``, ``onnx`` (ONNX Runtime, CPU), ``openvino`` (OpenVINO
        in float32, CPU) or ``auto``: on the CPU, whichever of ONNX Runtime and OpenVINO is installed,
        and when both are, the faster one in a timing at start-up (OpenVINO for PhaseNet, ONNX Runtime
        for PhaseNetLight); else torch. All give the torch outputs to float rounding (about 1e-6).
    precision
        ``fp32``: every window in float32 (see ``backend``). ``bf16``: every window first runs in
        bfloat16 through OpenVINO (in about 0.55 of the float32 time for PhaseNet on CPUs with native
        bf16), then every window overlapping a run of samples that could belong to a trigger is
        recomputed in float32 and the block restacked (see :meth:`_refine`). The
        trigger regions, and so the picks, are then computed from float32 windows only, as long as
        the bf16 error stays below ``refine_margin``; the refined windows measure that error, and if
        it exceeds half the margin the whole input is recomputed in float32 (``stats["fallbacks"]``).
        ``auto``: ``bf16`` on CPU when OpenVINO is installed, reports native bf16 and a timing at
        start-up shows bf16 to be faster, while the recent share of windows near triggers is small
        enough for it to pay (see ``stats``); else ``fp32``. Either way the picks are the float32 picks.
    refine_margin
        Probability margin of the bf16 refinement (default 0.1; the largest bf16 error seen below the cut was 0.029).
    **kwargs
        Annotate/classify arguments exactly as SeisBench takes them (``overlap``, ``blinding``,
        ``stacking``, ``P_threshold``, ``S_threshold``, ``strict``, ...). They override the model's
        ``default_args`` like in SeisBench.

    Attributes
    ----------
    stats
        Running counts: ``windows`` (model windows of all inputs), ``refined_windows`` (recomputed in
        float32 after bf16), ``max_bf16_error`` seen on those where bf16 was below the refinement cut
        (the error the margin must exceed), ``fallbacks`` (inputs recomputed
        entirely in float32) and, with bf16, ``bf16_cost`` (measured bf16/float32 forward time).
        With ``precision="auto"``, bf16 is not used when ``bf16_cost`` is above 0.75, and otherwise
        only while ``bf16_cost + 1.7 * (recent share of windows near triggers)`` (the estimated time
        relative to float32) is at most 1; see :meth:`_auto_update`.
    """

    def __init__(self, model: Any, batch_size: int = 256, device: str = "cpu", backend: str = "auto",
                 precision: str = "fp32", refine_margin: float = 0.1, **kwargs: Any) -> None:
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
        #: the output channels that are phases (not noise ``N``); only these are stacked and picked
        self._phase_channels = [i for i, label in enumerate(self.labels) if label != "N"]
        self.phases = [self.labels[i] for i in self._phase_channels]
        self._pools: dict[str, tuple[np.ndarray, int]] = {}  # reusable buffers, see _scratch
        self.in_channels = getattr(model, "in_channels", len(model.component_order))
        self.stats: dict[str, Any] = {"windows": 0, "refined_windows": 0, "max_bf16_error": 0.0, "fallbacks": 0}
        self._exact_time: float | None = None  # set when _exact_forward timed the float32 candidates
        self._exact = self._exact_forward(backend)  # the float32 pass (None: the torch model itself)
        self.backend = getattr(self._exact, "backend_name", "torch")
        self.refine_margin = float(refine_margin)
        self._auto = precision == "auto"
        self._auto_counts = (0.0, 0.0)  # decayed (windows, hot windows), see _auto_update
        self._bf16_fwd = self._bf16_forward(precision)  # the compiled bf16 pass (None: float32 only)
        if self._bf16_fwd is not None:
            self.stats["bf16_cost"] = cost = self._time_bf16()
            if self._auto and cost > self.AUTO_MAX_COST:
                log.info("bf16 forward pass costs %.2f of float32 for %s; using float32", cost, type(model).__name__)
                self._bf16_fwd = None
        self._bf16 = self._bf16_fwd  # the pass in use; auto switches it per input (_auto_update)
        self.precision = "bf16" if self._bf16 is not None else "fp32"

    def _exact_forward(self, backend: str) -> Any:
        """The float32 pass for ``backend`` (None: torch); see the class docstring."""
        from seisforge.deploy import onnx_backend, openvino_backend

        runtimes = {"onnx": (onnx_backend.available, "onnxruntime onnx"),
                    "openvino": (openvino_backend.available, "openvino onnxruntime onnx")}
        if backend not in ("auto", "torch", *runtimes):
            raise ConfigError(f"backend must be auto, torch, onnx or openvino, got {backend!r}")
        if backend in runtimes:
            if not runtimes[backend][0]():
                raise ConfigError(f"backend {backend} needs {runtimes[backend][1]}: pip install {runtimes[backend][1]}")
            if self.device.type != "cpu":
                raise ConfigError(f"backend {backend} runs on the CPU; use --backend torch with --device cuda")
        if backend == "torch" or (backend == "auto" and self.device.type != "cpu"):
            return None
        wanted = [backend] if backend in runtimes else [b for b in runtimes if runtimes[b][0]()]
        built = {}
        for name in wanted:
            try:
                if name == "onnx":
                    fwd = onnx_backend.OnnxForward(self.model, self.in_channels, self.model.in_samples,
                                                   self.argdict)
                else:
                    fwd = openvino_backend.OpenVinoForward(self.model, self.in_channels, self.model.in_samples,
                                                           self.argdict, precision="f32")
            except Exception as err:  # noqa: BLE001 - export or compilation can fail for exotic models
                if backend == name:
                    raise ConfigError(f"{name} export of {type(self.model).__name__} failed: {err}") from err
                log.warning("%s export of %s failed (%s)", name, type(self.model).__name__, err)
                continue
            fwd.backend_name = name
            built[name] = fwd
        if not built:
            log.warning("no ONNX Runtime or OpenVINO pass for %s; using torch", type(self.model).__name__)
            return None
        if len(built) == 1:
            return next(iter(built.values()))
        times = {name: self._time_pass(fwd) for name, fwd in built.items()}
        self.stats["fp32_pass_s"] = {k: round(v, 4) for k, v in times.items()}
        best = min(times, key=times.get)
        self._exact_time = times[best]
        return built[best]

    def _time_pass(self, net: Any) -> float:
        """Best of 3 timings of ``net`` (a float32 or bf16 pass; None: torch) on one batch (at most 256 windows)."""
        import time

        n = min(self.batch_size, 256)
        x = np.random.default_rng(0).normal(size=(n, self.in_channels, self.model.in_samples)).astype(np.float32)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            self._run_net(net, x)
            times.append(time.perf_counter() - t)
        return min(times)

    def _bf16_forward(self, precision: str) -> Any:
        """The OpenVINO bf16 forward pass for ``precision`` (None for float32)."""
        from seisforge.deploy import openvino_backend

        if precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"precision must be auto, fp32 or bf16, got {precision!r}")
        if precision == "fp32" or (precision == "auto" and self.device.type != "cpu"):
            return None
        if precision == "bf16" and self.device.type != "cpu":
            raise ConfigError("precision bf16 runs through OpenVINO on the CPU; use --precision fp32 with a GPU")
        if not openvino_backend.bf16_native():
            if precision == "bf16":
                raise ConfigError("precision bf16 needs OpenVINO (pip install openvino) and a CPU with native "
                                  "bf16 (AVX512_BF16 or AMX); use --precision fp32")
            return None
        low = self._lowest_off_threshold()
        if not 0 < self.refine_margin < low:
            if precision == "bf16":
                raise ConfigError(f"precision bf16: the refinement margin {self.refine_margin} must be below half the "
                                  f"lowest threshold ({low:g}); lower the margin or use --precision fp32")
            log.info("thresholds too low for the bf16 refinement margin; using float32")
            return None
        try:
            fwd = openvino_backend.OpenVinoForward(
                self.model, self.in_channels, self.model.in_samples, self.argdict)
        except Exception as err:  # noqa: BLE001 - export or compilation can fail for exotic models
            if precision == "bf16":
                raise ConfigError(f"OpenVINO bf16 compilation of {type(self.model).__name__} failed: {err}") from err
            log.warning("OpenVINO bf16 path unavailable for %s (%s); using float32", type(self.model).__name__, err)
            return None
        return fwd

    #: ``precision="auto"`` keeps bf16 only when its forward pass costs at most this fraction of float32
    AUTO_MAX_COST = 0.75
    #: time of a refined window relative to a float32 window (its forward pass plus the extra copies and
    #: bookkeeping); from benchmarks/bench_pick.py, where bf16 broke even at about 22% refined windows
    REFINE_WEIGHT = 1.7

    def _time_bf16(self) -> float:
        """Time of a bf16 forward pass relative to the float32 pass (best of 3 each)."""
        exact = self._exact_time if self._exact_time is not None else self._time_pass(self._exact)
        return self._time_pass(self._bf16_fwd) / exact

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
        self._reset_scratch("block")  # the previous call's block arrays are no longer referenced
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
            gd = self._group_array(group)
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
                    data=gd.data,
                    sampling_rate=fs,
                    offsets=offsets.astype(np.intp),
                )
            )
        return out

    # ------------------------------------------------------------------ inference
    def _forward(self, batch: np.ndarray, bf16: bool = False) -> np.ndarray:
        return self._run_net(self._bf16_fwd if bf16 else self._exact, batch)

    @torch.inference_mode()
    def _run_net(self, net: Any, batch: np.ndarray) -> np.ndarray:
        """``annotate_batch_pre``, ``net`` (None: the torch model) and ``annotate_batch_post`` on raw windows."""
        x = torch.from_numpy(batch).to(self.device)
        piggyback = None
        if net is not None and net.includes_pre:
            pred = net(x)
        else:
            pre = self.model.annotate_batch_pre(x, argdict=self.argdict)
            if isinstance(pre, tuple):
                pre, piggyback = pre
            pred = net(pre) if net is not None else self.model(pre)
        pred = self.model.annotate_batch_post(pred, piggyback=piggyback, argdict=self.argdict)
        if not isinstance(pred, torch.Tensor):
            raise ConfigError(f"{type(self.model).__name__} returns {type(pred).__name__}; expected one tensor")
        return pred.float().cpu().numpy()

    def _copy_out(self, chunk: list[tuple[int, int, int]], preds: np.ndarray, blocks: list[Block],
                  per_block: dict[int, np.ndarray]) -> None:
        """Copy a batch's phase predictions into one ``(windows, samples, phases)`` array per block.

        Only the phase channels are kept (the picks never read the noise class), and the copy runs
        channel by channel: models compute ``(windows, classes, samples)`` and ``annotate_batch_post``
        transposes it, so each channel is one contiguous read (about 5 times faster than letting
        numpy copy the transposed view in one go).
        """
        i = 0
        while i < len(chunk):  # copy each run of consecutive windows of one block at once
            bi, wi, _ = chunk[i]
            j = i + 1
            while j < len(chunk) and chunk[j][0] == bi and chunk[j][1] == wi + j - i:
                j += 1
            if bi not in per_block:  # one (windows, samples, phases) array per block, filled in place
                per_block[bi] = self._scratch((len(blocks[bi].offsets), preds.shape[1], len(self._phase_channels)))
            dst = per_block[bi][wi : wi + j - i]
            for k, c in enumerate(self._phase_channels):
                dst[:, :, k] = preds[i:j, :, c]
            i = j

    def _scratch(self, shape: tuple[int, ...], pool: str = "pred") -> np.ndarray:
        """A float32 array carved from a buffer that is reused across calls.

        A station-day's block and prediction arrays are hundreds of MB. Fresh ones are fresh pages from
        the OS each day (glibc returns large blocks on free), and the page faults cost about 0.1 s per
        station-day for each. ``pool="pred"`` arrays stay valid until the next :meth:`annotate` call,
        ``pool="block"`` ones until the next :meth:`blocks` call; a ``FastPicker`` is therefore not
        re-entrant (one thread at a time, as in ``seisforge pick``).
        """
        buf, used = self._pools.get(pool, (np.empty(0, dtype=np.float32), 0))
        n = int(np.prod(shape))
        if used + n > buf.size:  # grow; views into the old buffer stay valid
            buf = np.empty(max(2 * buf.size, used + n), dtype=np.float32)
        self._pools[pool] = (buf, used + n)
        return buf[used : used + n].reshape(shape)

    def _reset_scratch(self, pool: str) -> None:
        if pool in self._pools:
            self._pools[pool] = (self._pools[pool][0], 0)

    def _group_array(self, group: obspy.Stream) -> Any:
        """SeisBench's ``stream_to_array`` for one instrument group, written straight into float32.

        The same arithmetic as :meth:`seisbench.models.WaveformModel.stream_to_array` (start time,
        length, offsets, zero-filled gaps, mean ``t_offset``), but the samples go directly into a
        reusable float32 buffer instead of a fresh float64 array that is converted afterwards: the
        float64 array of a 3-C 100 Hz station-day is 207 MB, and allocating and converting it took
        0.02-0.15 s per station-day here. The windows SeisBench feeds its model are float32 either
        way; a test holds the two equal.
        """
        from seisbench.models.base import GroupedTraceData

        model = self.model
        comp_dict, comp_order = model._build_comp_dict(group, self._arg("flexible_horizontal_components"))
        stations = sorted({model._grouping.trace_id_without_component(tr) for tr in group})
        if len(stations) != 1:
            raise ConfigError(f"one instrument per block expected, got {stations}")
        fs = group[0].stats.sampling_rate
        t_start = min(tr.stats.starttime for tr in group)
        t_end = max(tr.stats.endtime for tr in group)
        n_samples = int((t_end - t_start) * fs) + 2 - 1  # SeisBench's +2 "fractional error" sample, then cut
        data = self._scratch((len(comp_order), n_samples), pool="block")
        data[:] = 0.0
        t_offsets = []
        for tr in group:
            if tr.id[-1] not in comp_dict:
                continue
            offset = int((tr.stats.starttime - t_start) * fs)
            data[comp_dict[tr.id[-1]], offset : offset + tr.data.size] = tr.data[: max(0, n_samples - offset)]
            t_offsets.append(tr.stats.get("t_offset", 0.0))
        return GroupedTraceData(start_time=t_start + np.mean(t_offsets), data=data, stations=stations,
                                component_order=comp_order, sampling_rate=fs, grouping="instrument")

    def _run_windows(self, blocks: list[Block], jobs: list[tuple[int, int, int]],
                     per_block: dict[int, np.ndarray], bf16: bool = False,
                     on_batch: Any = None) -> None:
        """Run the model on ``jobs`` (block, window, offset), batched across blocks, into ``per_block``.

        ``on_batch(chunk, preds)`` is called (in this thread) after each batch is copied out.
        """
        in_samples = self.model.in_samples
        views = [sliding_window_view(b.data, in_samples, axis=-1) for b in blocks]
        batches = [jobs[s : s + self.batch_size] for s in range(0, len(jobs), self.batch_size)]

        def run(chunk: list[tuple[int, int, int]]) -> np.ndarray:
            return self._forward(np.stack([views[bi][:, off] for bi, _, off in chunk]), bf16=bf16)

        # the next batch runs in a feeder thread while this one is copied out (one batch ahead)
        with ThreadPoolExecutor(1, thread_name_prefix="seisforge-feed") as feeder:
            pending = feeder.submit(run, batches[0]) if batches else None
            for k, chunk in enumerate(batches):
                preds = pending.result()
                if preds.ndim == 2:  # one class: (windows, samples) -> (windows, samples, 1)
                    preds = preds[..., None]
                if k + 1 < len(batches):
                    pending = feeder.submit(run, batches[k + 1])
                self._copy_out(chunk, preds, blocks, per_block)
                if on_batch is not None:
                    on_batch(chunk, preds)

    def _pred_geometry(self, data: np.ndarray) -> tuple[int, float]:
        """First input sample the predictions cover, and prediction samples per input sample."""
        pred_sample = self.model.pred_sample
        if isinstance(pred_sample, int):
            pred_sample = (0, pred_sample)
        return pred_sample[0], data.shape[1] / (pred_sample[1] - pred_sample[0])

    def _pred_offsets(self, block: Block, data: np.ndarray) -> np.ndarray:
        """Window offsets in prediction samples (SeisBench's rounding)."""
        return np.round(block.offsets * self._pred_geometry(data)[1]).astype(np.intp)

    def _stack(self, block: Block, data: np.ndarray) -> np.ndarray:
        """SeisBench's ``stack_windows`` of ``(windows, samples, classes)`` predictions."""
        from seisbench.ext import stack_windows

        return stack_windows(windows=data, offsets=self._pred_offsets(block, data),
                             method=str(self._arg("stacking")).lower())

    def _lowest_off_threshold(self) -> float:
        """The lowest trigger-off threshold of the phases (``threshold / 2``)."""
        return min(self.threshold(p) for p in self.phases) / 2

    def _cuts(self) -> tuple[np.ndarray, np.ndarray]:
        """Per phase channel, the refinement cuts ``threshold / 2 - margin`` (hot) and ``threshold - margin`` (seed)."""
        thr = np.array([self.threshold(p) for p in self.phases])
        return thr / 2 - self.refine_margin, thr - self.refine_margin

    def _hot_runs(self, runs: dict[int, list[Any]]) -> Any:
        """Batch callback: per block and phase, each window's runs of hot samples and its seed samples.

        A sample of a window is *hot* for a phase when the window's curve reaches ``threshold / 2 -
        refine_margin`` there and a *seed* when it reaches ``threshold - refine_margin`` (NaN, i.e.
        blinded, samples are neither). Entries are ``(phase, run windows, run starts, run ends
        (exclusive), seed windows, seed samples)`` in window coordinates; see :meth:`_hot_windows`.
        """
        hot_cut, seed_cut = self._cuts()

        def on_batch(chunk: list[tuple[int, int, int]], preds: np.ndarray) -> None:
            index = np.array([(bi, wi) for bi, wi, _ in chunk], dtype=np.int64)
            for k, c in enumerate(self._phase_channels):
                curve = preds[:, :, c]
                hot = curve >= hot_cut[k]
                rows = np.flatnonzero(hot.any(axis=1))
                if not len(rows):
                    continue
                edges = np.diff(hot[rows].astype(np.int8), axis=1, prepend=0, append=0)
                r_on, col_on = np.nonzero(edges == 1)
                _, col_off = np.nonzero(edges == -1)  # row-major order: pairs with the starts
                r_seed, col_seed = np.nonzero(curve[rows] >= seed_cut[k])
                for bi in np.unique(index[rows, 0]):
                    on_b, seed_b = index[rows[r_on], 0] == bi, index[rows[r_seed], 0] == bi
                    runs.setdefault(int(bi), []).append((
                        k, index[rows[r_on[on_b]], 1], col_on[on_b], col_off[on_b],
                        index[rows[r_seed[seed_b]], 1], col_seed[seed_b]))

        return on_batch

    def _hot_windows(self, blocks: list[Block], per_block: dict[int, np.ndarray],
                     runs: dict[int, list[Any]]) -> list[tuple[int, int, int]]:
        """``(block, window, offset)`` of every window to recompute in float32 (see :meth:`_refine`).

        Per block and phase, the hot runs of all windows are merged into the runs of samples where
        *any* window is hot (overlapping or adjacent runs join); the runs that contain a seed sample
        are kept, and every window overlapping a kept run is returned.
        """
        jobs = []
        for bi, items in runs.items():
            starts = self._pred_offsets(blocks[bi], per_block[bi])
            spans = []
            for k in {item[0] for item in items}:
                mine = [item for item in items if item[0] == k]
                lo = np.concatenate([starts[i[1]] + i[2] for i in mine])
                hi = np.concatenate([starts[i[1]] + i[3] - 1 for i in mine])
                seeds = np.concatenate([starts[i[4]] + i[5] for i in mine])
                if not len(seeds):
                    continue
                order = np.argsort(lo, kind="stable")
                lo, hi = lo[order], hi[order]
                reach = np.maximum.accumulate(hi)
                new = np.ones(len(lo), dtype=bool)
                new[1:] = lo[1:] > reach[:-1] + 1  # a gap of at least one cold sample starts a new run
                first = np.flatnonzero(new)
                run_lo, run_hi = lo[first], np.append(reach[first[1:] - 1], reach[-1])
                which = np.searchsorted(run_lo, seeds, side="right") - 1
                keep = np.zeros(len(run_lo), dtype=bool)
                keep[which[(which >= 0) & (seeds <= run_hi[np.maximum(which, 0)])]] = True
                spans.append(np.stack([run_lo[keep], run_hi[keep]], axis=1))
            if spans:
                touched = windows_covering(starts, per_block[bi].shape[1], np.concatenate(spans))
                jobs += [(bi, int(wi), int(blocks[bi].offsets[wi])) for wi in touched]
        return jobs

    def _refine(self, blocks: list[Block], per_block: dict[int, np.ndarray], runs: dict[int, list[Any]]) -> None:
        """Recompute in float32 every window that overlaps a hot run containing a seed.

        For each phase with threshold ``t``, a sample is hot when some window's bf16 curve reaches
        ``t / 2 - refine_margin`` there and a seed when it reaches ``t - refine_margin``; the runs of
        consecutive hot samples that contain a seed are recomputed (all windows overlapping them).
        With bf16 errors below the margin this gives the float32 picks: a trigger turns on where the
        stacked float32 curve exceeds ``t``, so some window exceeds ``t`` there (a seed); it stays on
        while the curve exceeds ``t / 2``, so every sample of it is hot and it lies in one hot run,
        which is then float32 throughout; it ends at the first sample at or below ``t / 2``, and a
        sample that is not hot stays below ``t / 2`` whichever windows are float32. Hot runs without a
        seed stay below ``t`` and start no trigger. The refined windows measure the bf16 error on all
        their samples below the seed cut; above half the margin, the input is recomputed in float32.
        """
        jobs = self._hot_windows(blocks, per_block, runs)
        if not jobs:
            return
        approx = np.stack([per_block[bi][wi] for bi, wi, _ in jobs])
        self._run_windows(blocks, jobs, per_block)
        self.stats["refined_windows"] += len(jobs)
        exact = np.stack([per_block[bi][wi] for bi, wi, _ in jobs])
        cold = approx < self._cuts()[1]  # (windows, samples, phases) against the per-phase seed cut
        err = float(np.max(np.abs(exact[cold] - approx[cold]), initial=0.0))
        self.stats["max_bf16_error"] = max(self.stats["max_bf16_error"], err)
        if err > self.refine_margin / 2:
            log.warning("bf16 error %.3g exceeds half the refinement margin %.3g; recomputing in float32",
                        err, self.refine_margin)
            self.stats["fallbacks"] += 1
            all_jobs = [(bi, wi, off) for bi in per_block for wi, off in enumerate(blocks[bi].offsets)]
            self._run_windows(blocks, all_jobs, per_block)

    def _auto_update(self, windows: int, hot: int) -> None:
        """``auto``: choose bf16 or float32 for the next inputs from the recent share of hot windows.

        ``hot`` windows are the ones bf16 sends (or, in float32 mode, would send) back to float32. The
        counts decay with a half-life of 5000 windows (about a PhaseNet station-day), so a busy day (an
        aftershock sequence) switches bf16 off and quiet days switch it on again. bf16 is used while
        ``bf16_cost + REFINE_WEIGHT * hot share`` is at most 1, once 1000 windows have been seen.
        """
        keep = 0.5 ** (windows / 5000)
        self._auto_counts = (keep * self._auto_counts[0] + windows, keep * self._auto_counts[1] + hot)
        seen, recent_hot = self._auto_counts
        if seen < 1000:
            return
        use = self.stats["bf16_cost"] + self.REFINE_WEIGHT * recent_hot / seen <= 1.0
        if use != (self._bf16 is not None):
            log.info("recent share of windows near triggers %.0f%%: using %s", 100 * recent_hot / seen,
                     "bf16 with float32 refinement" if use else "float32")
        self._bf16 = self._bf16_fwd if use else None
        self.precision = "bf16" if use else "fp32"

    def annotate(self, blocks: list[Block]) -> list[Annotation]:
        """Run the model on all windows of all blocks (batched across blocks) and stack per block."""
        jobs = [(bi, wi, off) for bi, b in enumerate(blocks) for wi, off in enumerate(b.offsets)]
        per_block: dict[int, np.ndarray] = {}
        self._reset_scratch("pred")  # the previous call's prediction arrays are no longer referenced
        self.stats["windows"] += len(jobs)
        runs: dict[int, list[Any]] = {}
        if self._bf16 is not None:
            refined = self.stats["refined_windows"]
            self._run_windows(blocks, jobs, per_block, bf16=True, on_batch=self._hot_runs(runs))
            self._refine(blocks, per_block, runs)
            if self._auto:
                self._auto_update(len(jobs), self.stats["refined_windows"] - refined)
        elif self._auto and self._bf16_fwd is not None:  # float32 for now; keep measuring the hot share
            self._run_windows(blocks, jobs, per_block, on_batch=self._hot_runs(runs))
            self._auto_update(len(jobs), len(self._hot_windows(blocks, per_block, runs)))
        else:
            self._run_windows(blocks, jobs, per_block)
        out = []
        for bi, b in enumerate(blocks):
            if bi not in per_block:
                continue
            data = per_block.pop(bi)
            first, factor = self._pred_geometry(data)
            out.append(
                Annotation(
                    trace_id=b.trace_id,
                    start_time=b.start_time + first / b.sampling_rate,
                    sampling_rate=b.sampling_rate * factor,
                    data=self._stack(b, data),
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
            for ci, phase in enumerate(self.phases):
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
