"""Micro-batching: one forward call split into micro-batches that run on a thread pool."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported only where a torch tensor is passed (see deploy.lean)
    import torch


class MicroBatched:
    """Run ``self._run`` on micro-batches of ``self.micro_batch`` windows, ``self.threads`` at once.

    Subclasses set ``threads``, ``micro_batch`` and ``_pool`` (see :meth:`_start_pool`) and
    ``includes_pre`` (whether ``annotate_batch_pre`` is part of the pass), and implement
    ``_run(x, out=None) -> ndarray``, which must release the GIL to run in parallel.
    """

    threads: int
    micro_batch: int
    includes_pre: bool
    _pool: ThreadPoolExecutor | None
    #: (shape per window, dtype) of the pass's output, once a call has shown it
    _out_layout: tuple[tuple[int, ...], np.dtype] | None = None

    def _start_pool(self, threads: int | None, micro_batch: int, name: str) -> None:
        if not threads:
            import torch  # the lean path (deploy.lean) always passes its threads

            threads = torch.get_num_threads()
        self.threads = max(1, int(threads))
        self.micro_batch = max(1, int(micro_batch))
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=name) if self.threads > 1 else None

    def _run(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The pass on ``x``, written into ``out`` (when given, shaped as the output) and returned."""
        raise NotImplementedError

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.run_numpy(batch.detach().cpu().numpy()))

    def run_numpy(self, batch: np.ndarray) -> np.ndarray:
        """The pass on a numpy batch of raw windows ``(N, C, L)``, in micro-batches on the pool.

        Once one call has shown the output's shape per window, each micro-batch writes straight into
        its rows of the batch's output (no concatenation afterwards).
        """
        x = np.ascontiguousarray(batch, dtype=np.float32)
        starts = range(0, len(x), self.micro_batch)
        mapper = self._pool.map if self._pool is not None and len(starts) > 1 else map
        if self._out_layout is None or len(starts) == 1:  # the first call learns the output's layout
            outs = list(mapper(lambda i: self._run(x[i : i + self.micro_batch]), starts))
            self._out_layout = (outs[0].shape[1:], outs[0].dtype)
            return outs[0] if len(outs) == 1 else np.concatenate(outs)
        out = np.empty((len(x), *self._out_layout[0]), dtype=self._out_layout[1])
        list(mapper(lambda i: self._run(x[i : i + self.micro_batch], out[i : i + self.micro_batch]), starts))
        return out
