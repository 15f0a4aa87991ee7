"""Process-level memory settings for long picking runs."""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def keep_freed_memory(threshold: int = 1 << 30) -> bool:
    """Ask glibc to serve large allocations from the heap and to keep freed memory in the process.

    By default glibc maps every allocation above 32 MiB freshly from the OS and returns it on free, so
    the hundreds of MB a station-day needs (stream copies, SeisBench's ``stream_to_array`` and
    ``stack_windows``) are page-faulted in again for every station-day, a noticeable part of a
    station-day's time (figures in ``docs/deploy.md``). The price is that the process keeps its peak
    memory until it exits.
    ``seisforge pick`` calls this once per picking process; it is a no-op elsewhere than glibc Linux.

    Parameters
    ----------
    threshold
        Allocations up to this size come from the heap, and freed memory up to this size is kept.

    Returns
    -------
    bool
        Whether the setting was applied.
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, int(threshold))) and bool(libc.mallopt(_M_TRIM_THRESHOLD, int(threshold)))
    except (OSError, AttributeError):  # not glibc
        return False
    if not ok:
        log.info("mallopt refused the allocation thresholds; keeping glibc's defaults")
    _done = ok
    return ok
