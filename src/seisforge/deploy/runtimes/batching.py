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
    ``_run(x: ndarray) -> ndarray``, which must release the GIL to run in parallel.
    """

    threads: int
    micro_batch: int
    includes_pre: bool
    _pool: ThreadPoolExecutor | None

    def _start_pool(self, threads: int | None, micro_batch: int, name: str) -> None:
        if not threads:
            import torch  # the lean path (deploy.lean) always passes its threads

            threads = torch.get_num_threads()
        self.threads = max(1, int(threads))
        self.micro_batch = max(1, int(micro_batch))
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=name) if self.threads > 1 else None

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.run_numpy(batch.detach().cpu().numpy()))

    def run_numpy(self, batch: np.ndarray) -> np.ndarray:
        """The pass on a numpy batch of raw windows ``(N, C, L)``, in micro-batches on the pool."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        chunks = [x[i : i + self.micro_batch] for i in range(0, len(x), self.micro_batch)]
        if self._pool is None or len(chunks) == 1:
            outs = [self._run(c) for c in chunks]
        else:
            outs = list(self._pool.map(self._run, chunks))
        return outs[0] if len(outs) == 1 else np.concatenate(outs)
