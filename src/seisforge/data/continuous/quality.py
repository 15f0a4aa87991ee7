"""Data quality inside continuous data: dead channels, all-zero stations, clipping, valid seconds.

Archives fill missing data with zeros or a constant, and saturated sensors clip. Those samples are
picked as they are (the picks stay SeisBench's), but each case is flagged per station-day and the time
they cover is kept out of the *valid* seconds that ``bench continuous`` divides by:

- a **flat run** is a run of at least :data:`FLAT_MIN_S` seconds of identical samples (zeros or any
  constant value; real ground motion digitised with any gain does not stay exactly constant that long);
- a **dead channel** has only flat runs inside the day [``dead_channel``];
- an **all-zero station** is an instrument whose every channel is all zeros inside the day
  [``all_zero_station``];
- a **clipped segment** is a run of at least :data:`CLIP_MIN_SAMPLES` (and shorter than a flat run)
  consecutive samples at the channel's largest absolute value [``clipped_segment``, seconds in
  ``notes.clipped_seconds``];
- **valid seconds**: per instrument, the union over its components of the time inside the day that is
  not in a flat run. NaN spans are gaps already (``preprocess.nonfinite_to_gaps``) and zero-filled
  missing components are not data, so neither counts.

Hand-written because no library flags these for picking archives; ObsPy's quality tools
(``obspy.signal.quality_control``) need whole miniSEED files and count gaps, not flat or clipped data.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import obspy

from seisforge.runinfo import RunReport

FLAT_MIN_S = 10.0
CLIP_MIN_SAMPLES = 5


def _flat_runs(data: np.ndarray, min_len: int) -> np.ndarray:
    """``(start, stop)`` of the runs of at least ``min_len`` identical samples.

    Any such run contains a whole aligned block of ``min_len // 2`` samples, so only blocks whose
    minimum equals their maximum (two vectorised reductions) are candidates; each candidate stretch
    is then extended by at most one block on either side. That keeps the check at a few passes over
    a station-day instead of materialising every run of equal neighbours.
    """
    half = max(min_len // 2, 1)
    m = len(data) // half
    if m == 0:
        return np.zeros((0, 2), dtype=np.intp)
    blocks = data[: m * half].reshape(m, half)
    const = np.flatnonzero(blocks.min(axis=1) == blocks.max(axis=1))
    runs = []
    i = 0
    while i < len(const):
        j = i
        value = data[const[i] * half]
        while j + 1 < len(const) and const[j + 1] == const[j] + 1 and data[const[j + 1] * half] == value:
            j += 1
        start, stop = const[i] * half, (const[j] + 1) * half
        left = data[max(start - half, 0):start][::-1] != value
        start -= int(np.argmax(left)) if left.any() else len(left)
        right = data[stop:stop + half] != value
        stop += int(np.argmax(right)) if right.any() else len(right)
        if stop - start >= min_len:
            runs.append((start, stop))
        i = j + 1
    return np.asarray(runs, dtype=np.intp).reshape(-1, 2)


def _clipped_runs(data: np.ndarray, max_len: int) -> np.ndarray:
    """``(start, stop)`` of runs of :data:`CLIP_MIN_SAMPLES` to ``max_len - 1`` samples at the largest |value|."""
    lo, hi = data.min(), data.max()
    peak = max(abs(lo), abs(hi))
    if peak == 0:
        return np.zeros((0, 2), dtype=np.intp)
    at_peak = [v for v in (lo, hi) if abs(v) == peak]
    pos = np.flatnonzero(data == at_peak[0] if len(at_peak) == 1 else (data == lo) | (data == hi))
    if len(pos) < CLIP_MIN_SAMPLES:
        return np.zeros((0, 2), dtype=np.intp)
    breaks = np.flatnonzero(np.diff(pos) != 1)
    starts = np.concatenate([[pos[0]], pos[breaks + 1]])
    stops = np.concatenate([pos[breaks], [pos[-1]]]) + 1
    keep = ((stops - starts) >= CLIP_MIN_SAMPLES) & ((stops - starts) < max_len)
    return np.stack([starts[keep], stops[keep]], axis=1)


def union_seconds(spans: list[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` spans."""
    total, cur_a, cur_b = 0.0, None, None
    for a, b in sorted(spans):
        if cur_b is None or a > cur_b:
            total += (cur_b - cur_a) if cur_b is not None else 0.0
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    return total + ((cur_b - cur_a) if cur_b is not None else 0.0)


def _valid_spans(tr: obspy.Trace, flat_runs: np.ndarray) -> list[tuple[float, float]]:
    t0, dt, n = tr.stats.starttime.timestamp, tr.stats.delta, tr.stats.npts
    spans, pos = [], 0
    for a, b in flat_runs:
        if a > pos:
            spans.append((t0 + pos * dt, t0 + a * dt))
        pos = b
    if pos < n:
        spans.append((t0 + pos * dt, t0 + n * dt))
    return spans


def assess_quality(stream: obspy.Stream, t0: float, t1: float, report: RunReport, key: str) -> float:
    """Flag dead channels, all-zero stations and clipped segments inside ``[t0, t1)``; return valid seconds.

    Parameters
    ----------
    stream
        The unit's cleaned traces (finite samples; padding beyond the day is ignored here).
    t0, t1
        The day (POSIX seconds).
    report
        Per-unit report: ``handled`` reasons with ``UNIT:CHANNEL`` examples and ``notes``.
    key
        Unit key.
    """
    valid: dict[str, list[tuple[float, float]]] = defaultdict(list)
    flat_only: dict[str, bool] = {}
    zero_only: dict[str, bool] = {}
    zero_inst: dict[str, bool] = defaultdict(lambda: True)
    for tr in stream.slice(obspy.UTCDateTime(t0), obspy.UTCDateTime(t1 - 1e-6), nearest_sample=False):
        data = np.asarray(tr.data)
        if data.size == 0:
            continue
        min_flat = int(round(FLAT_MIN_S * tr.stats.sampling_rate))
        spans = _valid_spans(tr, _flat_runs(data, min_flat))
        valid[tr.id.rsplit(".", 1)[0]].extend(spans)
        flat_only[tr.id] = flat_only.get(tr.id, True) and not spans
        zero_only[tr.id] = zero_only.get(tr.id, True) and not data.any()
        clipped = _clipped_runs(data, min_flat)
        if len(clipped):
            report.handle("clipped_segment", f"{key}:{tr.id}", n=len(clipped))
            report.notes["clipped_seconds"] = round(report.notes.get("clipped_seconds", 0.0) + float(
                (clipped[:, 1] - clipped[:, 0]).sum()) * tr.stats.delta, 3)
    for cid, dead in sorted(flat_only.items()):
        inst = cid.rsplit(".", 1)[0]
        zero_inst[inst] = zero_inst[inst] and zero_only[cid]
        if dead:
            report.handle("dead_channel", f"{key}:{cid}")
    for inst, zero in sorted(zero_inst.items()):
        if zero:
            report.handle("all_zero_station", f"{key}:{inst}")
    return float(sum(union_seconds(s) for s in valid.values()))
