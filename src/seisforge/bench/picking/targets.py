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
from seisforge.data.targets_io import EXTRA_COLUMNS, TASK1_COLUMNS, TASK23_COLUMNS
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
    min_gap = int(0.5 * sampling_rate)
    task1, task23 = [], []
    records = meta.to_dict("records")
    for idx, row in enumerate(tqdm(records, desc="targets", unit="trace")):
        split = str(row.get("split", ""))
        if split not in splits:
            report.skip(f"split_{split or 'missing'}_not_evaluated")
            continue
        try:
            wave = ds.get_waveforms(idx)
        except Exception as err:  # corrupt trace: count it, keep going
            report.fail("waveform_unreadable", f"{row['trace_name']}: {err}")
            continue
        sr = float(row.get("trace_sampling_rate_hz", sampling_rate))
        if not np.isfinite(sr) or sr <= 0:
            report.fail("unknown_sampling_rate", row["trace_name"])
            continue
        scale = sampling_rate / sr
        if scale != 1:
            report.handle(f"rescaled_from_{sr:g}Hz")
        npts = int(wave.shape[-1] * scale)
        base = {
            "trace_name": row["trace_name"], "trace_idx": idx, "trace_split": split,
            "sampling_rate": sampling_rate,
        }
        extra = {
            "trace_chunk": row.get("trace_chunk", ""), "trace_dataset": row.get("trace_dataset", ""),
            "source_id": row.get("source_id", ""),
        }
        arrivals = _arrivals(row, cols, scale, npts)
        p_s = [a[0] for a in arrivals]
        if not arrivals:
            s0, e0 = select_window_containing(rng1, npts, w1)
            task1.append({**base, "start_sample": s0, "end_sample": e0, "trace_type": "noise", **extra})
        else:
            first = min(p_s)
            s0, e0 = select_window_containing(rng1, npts, w1, containing=first)
            if e0 - s0 <= w1:
                task1.append({**base, "start_sample": s0, "end_sample": e0, "trace_type": "earthquake",
                              **extra})
            if noise_before_events and first > w1:
                s0, e0 = select_window_containing(rng1, min(npts, int(first)), w1)
                if e0 - s0 <= w1:
                    task1.append({**base, "start_sample": s0, "end_sample": e0, "trace_type": "noise",
                                  **extra})
        for i, (onset, phase, full) in enumerate(arrivals):
            before = 0 if i == 0 else int(arrivals[i - 1][0]) + min_gap
            after = np.inf if i == len(arrivals) - 1 else int(arrivals[i + 1][0]) - min_gap
            if after - before < w23 or before > onset or after < onset:
                report.skip("arrival_not_isolated")
                continue
            after = min(after, npts)
            s0, e0 = select_window_containing(rng23, int(after - before), w23, containing=onset - before,
                                              bounds=(50, 50))
            s0, e0 = s0 + before, e0 + before
            if e0 - s0 <= w23:
                task23.append({**base, "start_sample": s0, "end_sample": e0, "phase_label": phase,
                               "full_phase_label": full, "phase_onset": onset, **extra})
            else:
                report.skip("no_window_isolates_arrival")
        report.processed += 1
    t1 = pd.DataFrame(task1, columns=TASK1_COLUMNS + EXTRA_COLUMNS)
    t23 = pd.DataFrame(task23, columns=TASK23_COLUMNS + EXTRA_COLUMNS)
    t1.to_csv(out / "task1.csv", index=False)
    t23.to_csv(out / "task23.csv", index=False)
    report.notes.update({
        "dataset": str(dataset), "seed": seed, "sampling_rate": sampling_rate, "splits": list(splits),
        "task1_rows": t1.groupby(["trace_split", "trace_type"]).size().to_dict() if len(t1) else {},
        "task23_rows": t23.groupby(["trace_split", "phase_label"]).size().to_dict() if len(t23) else {},
    })
    report.notes["task1_rows"] = {"/".join(k): v for k, v in report.notes["task1_rows"].items()}
    report.notes["task23_rows"] = {"/".join(k): v for k, v in report.notes["task23_rows"].items()}
    report.write(out / "targets_report.json")
    return report
