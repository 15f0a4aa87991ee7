"""Model windows of blocks -> per-block prediction arrays -> stacked annotations.

Instead of one Python object per window, asyncio queues and ObsPy traces for every annotation (as in
SeisBench's ``annotate``), windows are strided views of the block arrays, batched across blocks, run
under ``torch.inference_mode`` (or in numpy for :mod:`~seisforge.deploy.lean`) (``annotate_batch_pre`` ->
forward pass -> ``annotate_batch_post``), and stacked with SeisBench's C ``stack_windows``, or, where no
per-window prediction is needed afterwards, folded into the stacked curves as they come out
(:class:`RunningStack`, the same numbers).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import obspy
from numpy.lib.stride_tricks import sliding_window_view

from seisforge import seisbench_compat as sbc
from seisforge.deploy.blocks import Block
from seisforge.deploy.runtimes.forward import Forward
from seisforge.deploy.scratch import ScratchPool
from seisforge.errors import ConfigError

if TYPE_CHECKING:
    import torch

#: one window to run: (block index, window index, window start sample in the block)
Job = tuple[int, int, int]
#: called with each batch's jobs and raw predictions ``(windows, samples, classes)``
BatchCallback = Callable[[list[Job], np.ndarray], None]


@dataclass
class Annotation:
    """Stacked prediction curves of one block: ``data[channel]`` starts at ``start_time``."""

    trace_id: str
    start_time: obspy.UTCDateTime
    sampling_rate: float
    data: np.ndarray  # (samples, phases) float32 (phases as in FastPicker.phases), NaN where no window covered


def block_jobs(blocks: list[Block]) -> list[Job]:
    """All windows of all ``blocks``, block by block."""
    return [(bi, wi, off) for bi, b in enumerate(blocks) for wi, off in enumerate(b.offsets)]


def pred_geometry(model: Any, pred_samples: int) -> tuple[int, float]:
    """First input sample that predictions of ``pred_samples`` samples cover, and their samples per input sample."""
    pred_sample = model.pred_sample
    if isinstance(pred_sample, int):
        pred_sample = (0, pred_sample)
    return pred_sample[0], pred_samples / (pred_sample[1] - pred_sample[0])


def pred_offsets(model: Any, block: Block, data: np.ndarray) -> np.ndarray:
    """Window offsets of ``block`` in prediction samples (SeisBench's rounding)."""
    return np.round(block.offsets * pred_geometry(model, data.shape[1])[1]).astype(np.intp)


def stack(model: Any, argdict: dict[str, Any], block: Block, data: np.ndarray) -> Annotation:
    """SeisBench's ``stack_windows`` of a block's ``(windows, samples, phases)`` predictions."""
    from seisbench.ext import stack_windows

    stacked = stack_windows(windows=data, offsets=pred_offsets(model, block, data), method=stack_method(model, argdict))
    return block_annotation(model, block, data.shape[1], stacked)


def stack_method(model: Any, argdict: dict[str, Any]) -> str:
    """The ``stacking`` argument, checked as SeisBench's ``annotate`` checks it."""
    method = str(sbc.argdict_get(model, argdict, "stacking")).lower()
    if method not in ("max", "avg"):
        raise ConfigError(f"stacking method {method!r} unknown; known options are 'max' and 'avg'")
    return method


def block_annotation(model: Any, block: Block, pred_samples: int, stacked: np.ndarray) -> Annotation:
    """The annotation of ``block`` whose window predictions (``pred_samples`` each) stacked to ``stacked``."""
    first, factor = pred_geometry(model, pred_samples)
    return Annotation(trace_id=block.trace_id, start_time=block.start_time + first / block.sampling_rate,
                      sampling_rate=block.sampling_rate * factor, data=stacked)


class RunningStack:
    """SeisBench's ``stack_windows`` of one block, folded in window by window as batches come out.

    ``stack_windows`` needs every window's prediction in one ``(windows, samples, phases)`` array: for
    a PhaseNet station-day that is 138 MB written, read back and paged in every station-day, and the
    stacking runs after the last window, on the critical path. Folding each batch in as it leaves the
    network needs only the stacked curves. SeisBench's C loop is reproduced exactly, which no library
    offers incrementally: ``max`` is ``fmaxf`` starting from NaN (``np.fmax``: NaN only where no window
    has a number), ``avg`` a float32 sum in window order skipping NaN, divided by the count (NaN where
    zero). ``tests/deploy/test_equivalence.py`` holds the two bit-equal.

    For ``avg``, counts per sample are only kept once a window with a NaN arrives. Until then each
    sample's count is the number of added windows covering it, which :meth:`result` recomputes from
    the offsets a chunk at a time: no station-day-sized count array (another 69 MB of fresh pages for
    a PhaseNet station-day) for predictions without NaN, the usual case.
    """

    #: samples per step of the final division (reused buffers instead of a station-day-sized count)
    CHUNK = 1 << 20

    def __init__(self, offsets: np.ndarray, samples: int, phases: int, method: str) -> None:
        self.offsets, self.samples = offsets, samples
        size = (phases, int(offsets.max()) + samples)  # one contiguous curve per phase
        self.avg = method != "max"
        self.acc = np.zeros(size, np.float32) if self.avg else np.full(size, np.nan, np.float32)
        # counts in float32: exact for any count a window overlap gives, and C divides by them as floats
        self.count: np.ndarray | None = None
        self.added = np.zeros(len(offsets), dtype=bool)  # windows folded in so far (avg: their counts)

    def add(self, first: int, preds: np.ndarray, channels: list[int]) -> None:
        """Fold in windows ``first, first + 1, ...`` of the block: ``preds`` is ``(windows, samples, classes)``."""
        offsets = self.offsets[first : first + len(preds)].tolist()
        if not self.avg:
            for k, c in enumerate(channels):
                for w, off in enumerate(offsets):
                    dst = self.acc[k, off : off + self.samples]
                    np.fmax(dst, preds[w, :, c], out=dst)
            return
        values = [np.ascontiguousarray(preds[:, :, c]) for c in channels]
        if self.count is None and not all(np.isfinite(v.sum()) for v in values):
            self._start_counting()  # a NaN (or an inf, harmless) in this batch: count per sample from now on
        self.added[first : first + len(preds)] = True
        for k, v in enumerate(values):
            acc = self.acc[k]
            if self.count is None:
                for w, off in enumerate(offsets):
                    acc[off : off + self.samples] += v[w]
                continue
            # NaN adds as 0 (x + 0 == x for every sum here: it starts at +0 and never becomes -0) and
            # is not counted, as the C loop skips it
            missing = np.isnan(v)
            v[missing] = 0.0
            valid = np.logical_not(missing).astype(np.float32)
            count = self.count[k]
            for w, off in enumerate(offsets):
                acc[off : off + self.samples] += v[w]
                count[off : off + self.samples] += valid[w]

    def _start_counting(self) -> None:
        """Per-sample counts of the windows added so far (each counts on every sample it covers)."""
        self.count = np.empty(self.acc.shape, np.float32)
        for a in range(0, self.acc.shape[1], self.CHUNK):
            self.count[:, a : a + self.CHUNK] = self._coverage(a, min(self.acc.shape[1], a + self.CHUNK))

    def result(self) -> np.ndarray:
        """The stacked ``(samples, phases)`` curves (a transposed view: each phase's curve is contiguous)."""
        if self.count is not None:  # avg with a NaN; in place: no more station-day-sized temporaries than one mask
            covered = self.count > 0
            np.divide(self.acc, self.count, out=self.acc, where=covered)
            np.copyto(self.acc, np.float32(np.nan), where=np.logical_not(covered, out=covered))
            self.count = None
        elif self.avg:  # without NaN: divide by the coverage, chunk by chunk
            for a in range(0, self.acc.shape[1], self.CHUNK):
                count = self._coverage(a, min(self.acc.shape[1], a + self.CHUNK))
                covered = count > 0
                for seg in self.acc[:, a : a + len(count)]:
                    np.divide(seg, count, out=seg, where=covered)
                    seg[~covered] = np.nan
        return self.acc.T

    def _coverage(self, a: int, b: int) -> np.ndarray:
        """How many added windows cover each sample of ``[a, b)``, as float32 like the C loop's counts.

        The count at sample t is #(starts <= t) - #(ends <= t): a cumulative sum over the window starts
        and ends inside ``[a, b)``, from the number of windows open at ``a``.
        """
        starts = self.offsets[self.added]
        ends = starts + self.samples
        base = int(np.count_nonzero(starts < a)) - int(np.count_nonzero(ends < a))
        inside = [x[(x >= a) & (x < b)] - a for x in (starts, ends)]
        steps = np.bincount(inside[0], minlength=b - a) - np.bincount(inside[1], minlength=b - a)
        return (np.cumsum(steps) + base).astype(np.float32)


class WindowRunner:
    """Runs forward passes on windows of blocks, batched across blocks, into per-block arrays.

    Parameters
    ----------
    model
        The SeisBench model (in eval mode, on ``device``).
    argdict
        Annotate arguments for ``annotate_batch_pre``/``annotate_batch_post``.
    device
        Torch device of the model.
    batch_size
        Windows per forward pass.
    phase_channels
        The output channels kept (the phases; the noise class is never picked).
    pool
        Where the per-block prediction arrays are carved from (the caller resets it).
    """

    def __init__(self, model: Any, argdict: dict[str, Any], device: torch.device, batch_size: int,
                 phase_channels: list[int], pool: ScratchPool) -> None:
        self.model = model
        self.argdict = argdict
        self.device = device
        self.batch_size = batch_size
        self.phase_channels = phase_channels
        self.pool = pool

    def run_net(self, net: Forward | None, batch: np.ndarray) -> np.ndarray:
        """``annotate_batch_pre``, ``net`` (None: the torch model) and ``annotate_batch_post`` on raw windows."""
        if getattr(self.model, "lean", False):  # deploy.lean: numpy in and out, no torch in the process
            return self.model.annotate_batch_post_np(net.run.run_numpy(batch), self.argdict)
        import torch  # here, not at import: the lean path (deploy.lean) runs without torch

        with torch.inference_mode():
            return self._run_torch(torch, net, batch)

    def _run_torch(self, torch: Any, net: Forward | None, batch: np.ndarray) -> np.ndarray:
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

    def run(self, net: Forward | None, blocks: list[Block], jobs: list[Job], per_block: dict[int, np.ndarray],
            on_batch: BatchCallback | None = None) -> None:
        """Run ``net`` on ``jobs``, batched across blocks, into ``per_block[block]`` (created as needed).

        ``on_batch(chunk, preds)`` is called (in this thread) after each batch is copied out.
        """
        def sink(chunk: list[Job], preds: np.ndarray) -> None:
            self._copy_out(chunk, preds, blocks, per_block)
            if on_batch is not None:
                on_batch(chunk, preds)

        self._feed(net, blocks, jobs, sink)

    def annotate(self, net: Forward | None, blocks: list[Block], jobs: list[Job]) -> list[Annotation]:
        """Run ``net`` on ``jobs`` and stack each block's windows as they come out (:class:`RunningStack`).

        The annotations equal :func:`stack` of :meth:`run`'s per-block arrays, without those arrays.
        """
        method = stack_method(self.model, self.argdict)
        stacks: dict[int, RunningStack] = {}

        def sink(chunk: list[Job], preds: np.ndarray) -> None:
            for bi, wi, i, j in consecutive_runs(chunk):
                if bi not in stacks:
                    stacks[bi] = RunningStack(pred_offsets(self.model, blocks[bi], preds), preds.shape[1],
                                              len(self.phase_channels), method)
                stacks[bi].add(wi, preds[i:j], self.phase_channels)

        self._feed(net, blocks, jobs, sink)
        return [block_annotation(self.model, blocks[bi], stacks[bi].samples, stacks.pop(bi).result())
                for bi in sorted(stacks)]

    def _feed(self, net: Forward | None, blocks: list[Block], jobs: list[Job],
              sink: Callable[[list[Job], np.ndarray], None]) -> None:
        """Run ``net`` on ``jobs`` in batches; ``sink(chunk, preds)`` takes each batch's ``(windows, samples, classes)``."""
        in_samples = self.model.in_samples
        views = [sliding_window_view(b.data, in_samples, axis=-1) for b in blocks]
        batches = [jobs[s : s + self.batch_size] for s in range(0, len(jobs), self.batch_size)]

        def run(chunk: list[Job]) -> np.ndarray:
            return self.run_net(net, np.stack([views[bi][:, off] for bi, _, off in chunk]))

        # later batches run in feeder threads while this one is taken by the sink; with a runtime's
        # thread pool, two batches are in flight so that its workers never wait for the next one at a
        # batch's end (one for torch, whose forward passes each use every thread)
        depth = 2 if net is not None else 1
        with ThreadPoolExecutor(depth, thread_name_prefix="seisforge-feed") as feeder:
            pending = deque(feeder.submit(run, b) for b in batches[:depth])
            for k, chunk in enumerate(batches):
                preds = pending.popleft().result()
                if preds.ndim == 2:  # one class: (windows, samples) -> (windows, samples, 1)
                    preds = preds[..., None]
                if k + depth < len(batches):
                    pending.append(feeder.submit(run, batches[k + depth]))
                sink(chunk, preds)

    def _copy_out(self, chunk: list[Job], preds: np.ndarray, blocks: list[Block],
                  per_block: dict[int, np.ndarray]) -> None:
        """Copy a batch's phase predictions into one ``(windows, samples, phases)`` array per block.

        Only the phase channels are kept (the picks never read the noise class), and the copy runs
        channel by channel: models compute ``(windows, classes, samples)`` and ``annotate_batch_post``
        transposes it, so each channel is one contiguous read, much faster than letting numpy copy the
        transposed view in one go (figures in ``docs/deploy.md``).
        """
        for bi, wi, i, j in consecutive_runs(chunk):
            if bi not in per_block:  # one (windows, samples, phases) array per block, filled in place
                per_block[bi] = self.pool.take((len(blocks[bi].offsets), preds.shape[1], len(self.phase_channels)))
            dst = per_block[bi][wi : wi + j - i]
            for k, c in enumerate(self.phase_channels):
                dst[:, :, k] = preds[i:j, :, c]


def consecutive_runs(chunk: list[Job]) -> list[tuple[int, int, int, int]]:
    """Runs of consecutive windows of one block in ``chunk``: (block, first window, start, end in chunk)."""
    runs, i = [], 0
    while i < len(chunk):
        bi, wi, _ = chunk[i]
        j = i + 1
        while j < len(chunk) and chunk[j][0] == bi and chunk[j][1] == wi + j - i:
            j += 1
        runs.append((bi, wi, i, j))
        i = j
    return runs
