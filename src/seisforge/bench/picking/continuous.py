"""Continuous-pick evaluation: one-to-one time matching per (trace_id, phase), precision/recall, F1."""

from __future__ import annotations

import numpy as np
import pandas as pd


def match_times(ref: np.ndarray, est: np.ndarray, tolerance: float) -> list[tuple[int, int]]:
    """Match sorted-or-not time arrays one to one, nearest pairs first, within ``tolerance``.

    Parameters
    ----------
    ref, est
        Times in seconds (float).
    tolerance
        Largest allowed ``|est - ref|`` in seconds.

    Returns
    -------
    list of (i_ref, i_est)
        Matched index pairs.
    """
    ref = np.asarray(ref, dtype=float)
    est = np.asarray(est, dtype=float)
    if len(ref) == 0 or len(est) == 0:
        return []
    order = np.argsort(est)
    est_sorted = est[order]
    cands = []
    for i, t in enumerate(ref):
        lo = np.searchsorted(est_sorted, t - tolerance, side="left")
        hi = np.searchsorted(est_sorted, t + tolerance, side="right")
        for j in range(lo, hi):
            cands.append((abs(est_sorted[j] - t), i, int(order[j])))
    cands.sort()
    used_r, used_e, pairs = set(), set(), []
    for _, i, j in cands:
        if i not in used_r and j not in used_e:
            used_r.add(i)
            used_e.add(j)
            pairs.append((i, j))
    return pairs


def match_pick_frames(ref: pd.DataFrame, est: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Match two pick tables with columns ``trace_id``, ``phase``, ``time`` (seconds, float).

    Returns
    -------
    DataFrame
        One row per reference pick and per unmatched estimated pick: ``trace_id``, ``phase``,
        ``ref_index`` (or -1), ``est_index`` (or -1), ``residual`` (est - ref, NaN when unmatched).
    """
    rows = []
    keys = set(zip(ref["trace_id"], ref["phase"])) | set(zip(est["trace_id"], est["phase"]))
    for tid, ph in sorted(keys):
        r = ref[(ref["trace_id"] == tid) & (ref["phase"] == ph)]
        e = est[(est["trace_id"] == tid) & (est["phase"] == ph)]
        pairs = match_times(r["time"].to_numpy(), e["time"].to_numpy(), tolerance)
        mr = {i for i, _ in pairs}
        me = {j for _, j in pairs}
        for i, j in pairs:
            rows.append((tid, ph, int(r.index[i]), int(e.index[j]),
                         float(e["time"].iloc[j] - r["time"].iloc[i])))
        rows += [(tid, ph, int(r.index[i]), -1, np.nan) for i in range(len(r)) if i not in mr]
        rows += [(tid, ph, -1, int(e.index[j]), np.nan) for j in range(len(e)) if j not in me]
    return pd.DataFrame(rows, columns=["trace_id", "phase", "ref_index", "est_index", "residual"])


def pick_set_f1(ref: pd.DataFrame, est: pd.DataFrame, tolerance: float) -> dict[str, float]:
    """Precision, recall and F1 of ``est`` against ``ref`` (see :func:`match_pick_frames`)."""
    m = match_pick_frames(ref, est, tolerance)
    tp = int(((m.ref_index >= 0) & (m.est_index >= 0)).sum())
    n_ref, n_est = len(ref), len(est)
    precision = tp / n_est if n_est else float("nan")
    recall = tp / n_ref if n_ref else float("nan")
    f1 = 2 * tp / (n_ref + n_est) if (n_ref + n_est) else float("nan")
    max_res = float(np.nanmax(np.abs(m.residual))) if tp else float("nan")
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "n_ref": n_ref, "n_est": n_est,
            "max_abs_residual_s": max_res}


def picks_frame(picks) -> pd.DataFrame:
    """SeisBench ``Pick`` objects or seisforge picks -> ``trace_id``, ``phase``, ``time`` frame."""
    return pd.DataFrame(
        {"trace_id": [p.trace_id for p in picks], "phase": [p.phase for p in picks],
         "time": [p.peak_time.timestamp for p in picks]},
        columns=["trace_id", "phase", "time"],
    )
