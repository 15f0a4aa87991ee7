"""Reusable float32 scratch buffers for the block and prediction arrays of the picker."""

from __future__ import annotations

import numpy as np


class ScratchPool:
    """float32 arrays carved from one buffer that is reused across calls.

    A station-day's block and prediction arrays are hundreds of MB. Fresh ones are fresh pages from
    the OS each day (glibc returns large blocks on free), and their page faults cost a noticeable part
    of a station-day's time (figures in ``docs/deploy.md``). Arrays from :meth:`take` stay valid until
    the next :meth:`reset`; their owner resets the pool when the previous call's arrays are no longer
    referenced, so an owner is not re-entrant (one thread at a time, as in ``seisforge pick``).
    """

    def __init__(self) -> None:
        self._buf = np.empty(0, dtype=np.float32)
        self._used = 0

    def take(self, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 array of ``shape`` (uninitialised) from the pool."""
        n = int(np.prod(shape))
        if self._used + n > self._buf.size:  # grow; views into the old buffer stay valid
            self._buf = np.empty(max(2 * self._buf.size, self._used + n), dtype=np.float32)
        out = self._buf[self._used : self._used + n].reshape(shape)
        self._used += n
        return out

    def reset(self) -> None:
        """Hand out the buffer from its start again (earlier arrays must no longer be used)."""
        self._used = 0
