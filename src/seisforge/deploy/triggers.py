"""Stacked annotations -> picks, exactly as SeisBench's ``picks_from_annotations``, without ObsPy traces.

The trigger on/off rule is ObsPy's ``trigger_onset`` (on at ``threshold``, off below ``threshold / 2``),
computed by :func:`trigger_onsets` in numpy: importing ``obspy.signal.trigger`` imports all of
``obspy.signal`` (``scipy.signal``, matplotlib), about 2 s of every picking process's start-up, for a
few lines of arithmetic. ``tests/test_triggers.py`` holds the two equal on random curves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import obspy

from seisforge import seisbench_compat as sbc
from seisforge.deploy.inference import Annotation


@dataclass
class Pick:
    """A pick as SeisBench's ``picks_from_annotations`` defines it."""

    trace_id: str
    phase: str
    peak_time: obspy.UTCDateTime
    peak_value: float
    start_time: obspy.UTCDateTime
    end_time: obspy.UTCDateTime


def threshold(model: Any, argdict: dict[str, Any], phase: str) -> float:
    """Trigger threshold of ``phase`` (argument, else model default, else SeisBench's 0.3)."""
    return float(argdict.get(f"{phase}_threshold", sbc.default_threshold(model, 0.3)))


def trigger_picks(annotations: list[Annotation], thresholds: Mapping[str, float]) -> list[Pick]:
    """Trigger picks per phase with ObsPy's ``trigger_onset`` (on ``threshold``, off ``threshold / 2``).

    Parameters
    ----------
    annotations
        Stacked curves; column ``k`` of ``data`` is the ``k``-th phase of ``thresholds``.
    thresholds
        Trigger threshold per phase, in the order of the annotation columns.

    Returns
    -------
    list of Pick
        Sorted by trace id, peak time and phase. NaN edges (no window covered them) are trimmed first,
        as SeisBench does with ``get_edge_indices``.
    """
    from seisbench.ext.utils import get_edge_indices

    picks: list[Pick] = []
    for ann in annotations:
        for ci, (phase, thr) in enumerate(thresholds.items()):
            curve = np.ascontiguousarray(ann.data[:, ci])
            b0, b1 = get_edge_indices(curve, edge_value=np.nan)
            curve = curve[b0:b1]
            if curve.size == 0:
                continue
            start = ann.start_time + b0 / ann.sampling_rate
            for s0, s1 in trigger_onsets(curve, thr, thr / 2):
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


def trigger_onsets(curve: np.ndarray, thr_on: float, thr_off: float) -> list[tuple[int, int]]:
    """ObsPy's ``trigger_onset(curve, thr_on, thr_off)`` (default ``max_len``), in numpy.

    A trigger starts at the first sample ``>= thr_on`` of a run of samples ``>= thr_off`` and ends at
    that run's last sample; runs without a sample ``>= thr_on`` give none. This is ObsPy's result
    when ``thr_off <= thr_on`` (always here: ``thr_off = thr_on / 2`` for positive thresholds); any
    other pair is handed to ObsPy itself.

    Returns
    -------
    list of tuple
        ``(on, off)`` sample indices, inclusive, in order.
    """
    if not thr_off <= thr_on:
        from obspy.signal.trigger import trigger_onset

        return [(int(a), int(b)) for a, b in trigger_onset(curve, thr_on, thr_off)]
    on_idx = np.flatnonzero(curve >= thr_on)
    if on_idx.size == 0:
        return []
    above = np.flatnonzero(curve >= thr_off)  # sparse: the runs are found from these indices alone
    breaks = np.flatnonzero(np.diff(above) > 1)
    starts, ends = above[np.r_[0, breaks + 1]], above[np.r_[breaks, above.size - 1]]
    first = np.searchsorted(on_idx, starts)  # first on-sample at or after each run's start
    hit = first < on_idx.size
    hit[hit] = on_idx[first[hit]] <= ends[hit]
    return [(int(a), int(b)) for a, b in zip(on_idx[first[hit]], ends[hit])]
