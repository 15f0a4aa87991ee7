"""Model windows of blocks -> per-block prediction arrays -> stacked annotations.

Instead of one Python object per window, asyncio queues and ObsPy traces for every annotation (as in
SeisBench's ``annotate``), windows are strided views of the block arrays, batched across blocks, run
under ``torch.inference_mode`` (or in numpy for :mod:`~seisforge.deploy.lean`) (``annotate_batch_pre`` -> forward pass -> ``annotate_batch_post``), and
stacked with SeisBench's C ``stack_windows``.
"""

from __future__ import annotations

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


def pred_geometry(model: Any, data: np.ndarray) -> tuple[int, float]:
    """First input sample that predictions ``(windows, samples, ...)`` cover, and their samples per input sample."""
    pred_sample = model.pred_sample
    if isinstance(pred_sample, int):
        pred_sample = (0, pred_sample)
    return pred_sample[0], data.shape[1] / (pred_sample[1] - pred_sample[0])


def pred_offsets(model: Any, block: Block, data: np.ndarray) -> np.ndarray:
    """Window offsets of ``block`` in prediction samples (SeisBench's rounding)."""
    return np.round(block.offsets * pred_geometry(model, data)[1]).astype(np.intp)


def stack(model: Any, argdict: dict[str, Any], block: Block, data: np.ndarray) -> Annotation:
    """SeisBench's ``stack_windows`` of a block's ``(windows, samples, phases)`` predictions."""
    from seisbench.ext import stack_windows

    first, factor = pred_geometry(model, data)
    stacked = stack_windows(windows=data, offsets=pred_offsets(model, block, data),
                            method=str(sbc.argdict_get(model, argdict, "stacking")).lower())
    return Annotation(trace_id=block.trace_id, start_time=block.start_time + first / block.sampling_rate,
                      sampling_rate=block.sampling_rate * factor, data=stacked)


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
        in_samples = self.model.in_samples
        views = [sliding_window_view(b.data, in_samples, axis=-1) for b in blocks]
        batches = [jobs[s : s + self.batch_size] for s in range(0, len(jobs), self.batch_size)]

        def run(chunk: list[Job]) -> np.ndarray:
            return self.run_net(net, np.stack([views[bi][:, off] for bi, _, off in chunk]))

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

    def _copy_out(self, chunk: list[Job], preds: np.ndarray, blocks: list[Block],
                  per_block: dict[int, np.ndarray]) -> None:
        """Copy a batch's phase predictions into one ``(windows, samples, phases)`` array per block.

        Only the phase channels are kept (the picks never read the noise class), and the copy runs
        channel by channel: models compute ``(windows, classes, samples)`` and ``annotate_batch_post``
        transposes it, so each channel is one contiguous read, much faster than letting numpy copy the
        transposed view in one go (figures in ``docs/deploy.md``).
        """
        i = 0
        while i < len(chunk):  # copy each run of consecutive windows of one block at once
            bi, wi, _ = chunk[i]
            j = i + 1
            while j < len(chunk) and chunk[j][0] == bi and chunk[j][1] == wi + j - i:
                j += 1
            if bi not in per_block:  # one (windows, samples, phases) array per block, filled in place
                per_block[bi] = self.pool.take((len(blocks[bi].offsets), preds.shape[1], len(self.phase_channels)))
            dst = per_block[bi][wi : wi + j - i]
            for k, c in enumerate(self.phase_channels):
                dst[:, :, k] = preds[i:j, :, c]
            i = j
