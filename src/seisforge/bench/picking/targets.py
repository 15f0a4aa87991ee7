"""Evaluation targets in pick-benchmark's format (Münchmeyer et al., 2022).

``task1.csv`` (detection, 30 s windows) and ``task23.csv`` (phase identification and onset time, 10 s
windows around isolated arrivals) keep pick-benchmark's columns (listed, with the reader
:func:`~seisforge.data.targets_io.load_targets`, in :mod:`seisforge.data.targets_io`)
and add ``trace_chunk``, ``trace_dataset`` and ``source_id`` so traces are keyed uniquely and bootstrap
resampling can be done by event. The window selection follows pick-benchmark's
``generate_eval_targets.py``: task-1 earthquake windows contain the first arrival at least 100 samples
from either edge, noise windows come from traces without arrivals and from before the first arrival;
task-2/3 windows contain exactly one arrival, at a random position at least 50 samples from either edge
(not centred), with neighbouring arrivals at least 0.5 s outside the isolation interval.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from seisforge.data.sources import open_dataset, phase_columns
from seisforge.data.targets_io import write_targets
from seisforge.errors import DataError
from seisforge.runinfo import RunReport


def select_window_containing(
    rng: np.random.Generator, npts: int, windowlen: int, containing: float | None = None,
    bounds: tuple[int, int] = (100, 100),
) -> tuple[int, int]:
    """pick-benchmark's window selection: a random ``windowlen`` window, optionally containing a sample.

    Returns the full trace when it is not longer than ``windowlen`` or no valid start exists.
    """
    if npts <= windowlen:
        return 0, npts
    if containing is None:
        start = int(rng.integers(0, npts - windowlen + 1))
        return start, start + windowlen
    earliest = max(0, int(containing - windowlen + bounds[1]))
    latest = min(npts - windowlen, int(containing - bounds[0]))
    if latest <= earliest:
        return 0, npts
    start = int(rng.integers(earliest, latest + 1))
    return start, start + windowlen


def _arrivals(row: dict, cols: dict[str, str], scale: float, npts: int) -> list[tuple[float, str, str]]:
    out = []
    for col, phase in cols.items():
        v = row.get(col)
        if v is None or not np.isfinite(v):
            continue
        v = float(v) * scale
        if 0 <= v < npts:
            out.append((v, phase, col.split("_")[1]))
    return sorted(out)


def generate_targets(
    dataset: str | Path,
    out: str | Path,
    seed: int = 42,
    sampling_rate: float = 100.0,
    splits: tuple[str, ...] = ("dev", "test"),
    noise_before_events: bool = True,
) -> RunReport:
    """Write ``task1.csv`` and ``task23.csv`` for ``dataset`` into ``out``.

    Parameters
    ----------
    dataset
        SeisBench dataset path or name.
    out
        Target folder (created).
    seed
        Seed of the window placement.
    sampling_rate
        Sampling rate (Hz) the sample columns refer to; traces at other rates are rescaled.
    splits
        Which splits get targets (pick-benchmark evaluates ``dev`` and ``test``).
    noise_before_events
        Also take task-1 noise windows from before the first arrival.
    """
    ds = open_dataset(dataset)
    meta = ds.metadata
    cols = phase_columns(meta)
    if "split" not in meta.columns:
        raise DataError(f"{dataset}: metadata has no 'split' column; assign splits first")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = RunReport("bench targets")
    if not cols:
        report.notes["warning"] = "no pick columns: all traces treated as noise; task23 is empty"
    rng1 = np.random.default_rng(seed)
    rng23 = np.random.default_rng(seed + 1)
    w1, w23 = int(30 * sampling_rate), int(10 * sampling_rate)
    task1, task23 = [], []
    for idx, row in enumerate(tqdm(meta.to_dict("records"), desc="targets", unit="trace")):
        split = str(row.get("split", ""))
        if split not in splits:
            report.skip(f"split_{split or 'missing'}_not_evaluated")
            continue
        scaled = _scaled_length(ds, idx, row, sampling_rate, report)
        if scaled is None:
            continue
        scale, npts = scaled
        base = {
            "trace_name": row["trace_name"], "trace_idx": idx, "trace_split": split,
            "sampling_rate": sampling_rate,
            "trace_chunk": row.get("trace_chunk", ""), "trace_dataset": row.get("trace_dataset", ""),
            "source_id": row.get("source_id", ""),
        }
        arrivals = _arrivals(row, cols, scale, npts)
        task1 += [{**base, **w} for w in _task1_windows(rng1, arrivals, npts, w1, noise_before_events)]
        task23 += [{**base, **w} for w in _task23_windows(rng23, arrivals, npts, w23, int(0.5 * sampling_rate),
                                                          report)]
        report.processed += 1
    t1, t23 = write_targets(out, task1, task23)
    report.notes.update({
        "dataset": str(dataset), "seed": seed, "sampling_rate": sampling_rate, "splits": list(splits),
        "task1_rows": _counts(t1, "trace_type"), "task23_rows": _counts(t23, "phase_label"),
    })
    report.write(out / "targets_report.json")
    return report


def _scaled_length(ds, idx: int, row: dict, sampling_rate: float, report: RunReport) -> tuple[float, int] | None:
    """``(scale, npts)`` of trace ``idx`` at ``sampling_rate``; None (counted) when it cannot be read or
    has no valid sampling rate."""
    try:
        wave = ds.get_waveforms(idx)
    except Exception as err:  # corrupt trace: count it, keep going
        report.fail("waveform_unreadable", f"{row['trace_name']}: {err}")
        return None
    sr = float(row.get("trace_sampling_rate_hz", sampling_rate))
    if not np.isfinite(sr) or sr <= 0:
        report.fail("unknown_sampling_rate", row["trace_name"])
        return None
    scale = sampling_rate / sr
    if scale != 1:
        report.handle(f"rescaled_from_{sr:g}Hz")
    return scale, int(wave.shape[-1] * scale)


def _task1_windows(rng: np.random.Generator, arrivals: list, npts: int, w1: int,
                   noise_before_events: bool) -> list[dict]:
    """Task-1 windows of one trace: noise without arrivals; else one containing the first arrival and,
    with ``noise_before_events``, a noise window before it."""
    if not arrivals:
        s0, e0 = select_window_containing(rng, npts, w1)
        return [{"start_sample": s0, "end_sample": e0, "trace_type": "noise"}]
    out = []
    first = min(a[0] for a in arrivals)
    s0, e0 = select_window_containing(rng, npts, w1, containing=first)
    if e0 - s0 <= w1:
        out.append({"start_sample": s0, "end_sample": e0, "trace_type": "earthquake"})
    if noise_before_events and first > w1:
        s0, e0 = select_window_containing(rng, min(npts, int(first)), w1)
        if e0 - s0 <= w1:
            out.append({"start_sample": s0, "end_sample": e0, "trace_type": "noise"})
    return out


def _task23_windows(rng: np.random.Generator, arrivals: list, npts: int, w23: int, min_gap: int,
                    report: RunReport) -> list[dict]:
    """Task-2/3 windows of one trace: one per arrival isolated from its neighbours by ``min_gap``."""
    out = []
    for i, (onset, phase, full) in enumerate(arrivals):
        before = 0 if i == 0 else int(arrivals[i - 1][0]) + min_gap
        after = np.inf if i == len(arrivals) - 1 else int(arrivals[i + 1][0]) - min_gap
        if after - before < w23 or before > onset or after < onset:
            report.skip("arrival_not_isolated")
            continue
        after = min(after, npts)
        s0, e0 = select_window_containing(rng, int(after - before), w23, containing=onset - before,
                                          bounds=(50, 50))
        s0, e0 = s0 + before, e0 + before
        if e0 - s0 <= w23:
            out.append({"start_sample": s0, "end_sample": e0, "phase_label": phase, "full_phase_label": full,
                        "phase_onset": onset})
        else:
            report.skip("no_window_isolates_arrival")
    return out


def _counts(table: pd.DataFrame, kind: str) -> dict[str, int]:
    """Rows per ``split/kind`` for the report."""
    if not len(table):
        return {}
    return {"/".join(k): v for k, v in table.groupby(["trace_split", kind]).size().to_dict().items()}
