"""Stacked annotations -> picks, exactly as SeisBench's ``picks_from_annotations``, without ObsPy traces."""

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
    from obspy.signal.trigger import trigger_onset
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
