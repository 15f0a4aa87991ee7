"""Benchmark target files (``task1.csv``, ``task23.csv``): their columns and the reader.

The files keep pick-benchmark's columns (Münchmeyer et al., 2022)::

    task1:  trace_name, trace_idx, trace_split, sampling_rate, start_sample, end_sample, trace_type
    task23: trace_name, trace_idx, trace_split, sampling_rate, start_sample, end_sample,
            phase_label, full_phase_label, phase_onset

and ours add ``trace_chunk``, ``trace_dataset`` and ``source_id`` (and, in task1 with ``bench targets
--noise-after-events``, ``window_source``). They are written by
:func:`seisforge.bench.picking.targets.generate_targets` and read here, in ``data``, because the leakage
audit and the manifest's ``--exclude-bench`` read them too.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from seisforge.errors import DataError

TASK1_COLUMNS = ["trace_name", "trace_idx", "trace_split", "sampling_rate", "start_sample", "end_sample",
                 "trace_type"]
TASK23_COLUMNS = ["trace_name", "trace_idx", "trace_split", "sampling_rate", "start_sample", "end_sample",
                  "phase_label", "full_phase_label", "phase_onset"]
EXTRA_COLUMNS = ["trace_chunk", "trace_dataset", "source_id"]


def read_csv_checked(path: str | Path, what: str = "CSV file", **kwargs) -> pd.DataFrame:
    """``pandas.read_csv`` of a user-supplied file, with one clear :class:`DataError` naming it when the
    file is binary, not UTF-8, empty or malformed (instead of a pandas/codec traceback).

    Parameters
    ----------
    path
        The CSV file.
    what
        What the file is, for the message (``"picks file"``, ``"targets file"``...).
    **kwargs
        Passed to :func:`pandas.read_csv`.
    """
    try:
        return pd.read_csv(path, **kwargs)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise DataError(f"{what} {path} is empty or not a readable CSV ({type(err).__name__}: {err})") from err


def write_targets(out: Path, task1: list[dict], task23: list[dict],
                  task1_extra: list[str] | tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``task1.csv`` and ``task23.csv`` into ``out`` (their columns in this module's order, then
    ``task1_extra``, e.g. ``window_source``) and return the two tables."""
    t1 = pd.DataFrame(task1, columns=TASK1_COLUMNS + EXTRA_COLUMNS + list(task1_extra))
    t23 = pd.DataFrame(task23, columns=TASK23_COLUMNS + EXTRA_COLUMNS)
    t1.to_csv(out / "task1.csv", index=False)
    t23.to_csv(out / "task23.csv", index=False)
    return t1, t23


def load_targets(targets_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read ``task1.csv`` / ``task23.csv`` (ours or published pick-benchmark files).

    Returns
    -------
    dict
        ``{"1": df, "23": df}`` for the files present.
    """
    targets_dir = Path(targets_dir)
    if not targets_dir.is_dir():
        raise DataError(f"targets folder not found: {targets_dir}")
    found = {}
    for task, cols in (("1", TASK1_COLUMNS), ("23", TASK23_COLUMNS)):
        path = targets_dir / f"task{task}.csv"
        if not path.is_file():
            continue
        df = read_csv_checked(path, "targets file", dtype={"trace_chunk": str, "source_id": str})
        required = [c for c in cols if c != "trace_idx"]
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}")
        found[task] = df
    if not found:
        raise DataError(f"{targets_dir}: neither task1.csv nor task23.csv found")
    return found
