"""Split assignment by event, station or time: no event ever falls in two splits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seisforge.errors import ConfigError

SPLITS = ("train", "dev", "test")


def parse_fractions(text: str | tuple[float, ...] | list[float]) -> tuple[float, float, float]:
    """Parse ``"0.6,0.2,0.2"`` into train/dev/test fractions that sum to 1."""
    try:
        vals = [float(x) for x in (text.split(",") if isinstance(text, str) else text)]
    except (TypeError, ValueError):
        vals = []  # a non-number is reported like any other malformed list
    if (len(vals) != 3 or not all(np.isfinite(vals)) or any(v < 0 for v in vals)
            or not np.isclose(sum(vals), 1.0, atol=1e-6)):
        raise ConfigError(f"--fractions needs three non-negative numbers summing to 1, got {text!r}")
    return vals[0], vals[1], vals[2]


def assign_event_splits(
    event_ids: np.ndarray | list, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2), seed: int = 0
) -> np.ndarray:
    """Assign ``train``/``dev``/``test`` per row so that all rows of an event share a split.

    Events are sorted by id (so the result does not depend on row order), shuffled with ``seed``, then
    taken in that order into train, dev and test until each split holds its fraction of the *rows*
    (traces). Rows with an empty/NaN event id are treated as their own single-row events.

    Parameters
    ----------
    event_ids
        Event id per row (``source_id``).
    fractions
        Target train/dev/test fractions of rows.
    seed
        Shuffle seed.

    Returns
    -------
    numpy.ndarray
        Split name per row.
    """
    ids = pd.Series(np.asarray(event_ids, dtype=object)).astype(str)
    blank = _blank_ids(event_ids)
    if blank.any():
        ids[blank] = [f"__row{i}" for i in np.flatnonzero(blank)]
    inverse, uniq = pd.factorize(ids, sort=True)
    counts = np.bincount(inverse, minlength=len(uniq))
    order = np.random.default_rng(seed).permutation(len(uniq))
    cum = np.cumsum(counts[order]) / max(len(ids), 1)
    bounds = np.cumsum(fractions)
    event_split = np.empty(len(uniq), dtype=object)
    # an event goes to the first split whose cumulative boundary its midpoint has not passed
    mid = cum - counts[order] / max(len(ids), 1) / 2
    event_split[order] = np.asarray(SPLITS, dtype=object)[np.minimum(np.searchsorted(bounds, mid, side="right"), 2)]
    return event_split[inverse].astype(str)


_PRIORITY = {"test": 0, "dev": 1, "train": 2}


def _blank_ids(ids) -> np.ndarray:
    s = pd.Series(ids, dtype=object)
    return (s.isna() | (s.astype(str).isin(["", "nan", "None"]))).to_numpy()


def assign_station_splits(
    station_keys, event_ids, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Station-holdout splits that still keep every event in one split.

    Stations (not traces) are assigned to train/dev/test with :func:`assign_event_splits` (so each split
    holds about its fraction of the traces). An event recorded at stations of several splits goes to the
    split holding most of its traces (ties: test, then dev, then train); its traces at stations of the
    other splits are marked for removal, so no station and no event is in two splits.

    Returns
    -------
    (split, conflict)
        Split per row and a boolean mask of rows to remove (event/station conflict).
    """
    stations = np.asarray(station_keys, dtype=object)
    split = assign_event_splits(stations, fractions, seed)
    ev = pd.Series(event_ids, dtype=object)
    has_event = ~_blank_ids(event_ids)
    df = pd.DataFrame({"ev": ev[has_event].astype(str).to_numpy(), "split": split[has_event]})
    counts = df.groupby(["ev", "split"]).size().rename("n").reset_index()
    counts["prio"] = counts["split"].map(_PRIORITY)
    best = counts.sort_values(["ev", "n", "prio"], ascending=[True, False, True]).drop_duplicates("ev")
    event_split = df["ev"].map(best.set_index("ev")["split"]).to_numpy()
    conflict = np.zeros(len(stations), dtype=bool)
    conflict[has_event] = event_split != split[has_event]
    return split, conflict


def assign_time_splits(
    event_ids, event_times, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Chronological splits: the earliest events train, later ones dev, the latest test.

    An event's time is the earliest ``event_time`` of its rows. Events are ordered by time (ties by
    key) and taken into train, dev and test until each holds its fraction of the rows. Rows without a
    time (e.g. noise traces) are split at random by event with ``seed`` (the returned mask marks them).

    Returns
    -------
    (split, untimed)
        Split per row and a boolean mask of the rows that had no time.
    """
    ids = pd.Series(event_ids, dtype=object).astype(str).to_numpy()
    blank = _blank_ids(event_ids)
    ids = np.where(blank, [f"__row{i}" for i in range(len(ids))] if blank.any() else ids, ids)
    t = pd.to_datetime(pd.Series(event_times), errors="coerce")
    ev_time = t.groupby(ids).transform("min")
    timed = ev_time.notna().to_numpy()
    split = np.empty(len(ids), dtype=object)
    if timed.any():
        ev = pd.DataFrame({"id": ids[timed], "t": ev_time[timed].to_numpy()})
        per = ev.groupby("id").agg(t=("t", "first"), n=("t", "size")).sort_values(["t"], kind="stable")
        per = per.reset_index().sort_values(["t", "id"], kind="stable")
        mid = (np.cumsum(per["n"].to_numpy()) - per["n"].to_numpy() / 2) / timed.sum()
        j = np.minimum(np.searchsorted(np.cumsum(fractions), mid, side="right"), 2)
        per["split"] = np.asarray(SPLITS, dtype=object)[j]
        split[timed] = pd.Series(ids[timed]).map(per.set_index("id")["split"]).to_numpy()
    if (~timed).any():
        split[~timed] = assign_event_splits(ids[~timed], fractions, seed)
    return split.astype(str), ~timed


def events_in_several_splits(event_ids, splits) -> list[str]:
    """Event ids (non-blank) that occur in more than one split."""
    keep = ~_blank_ids(event_ids)
    ev_codes, ev_uniq = pd.factorize(pd.Series(np.asarray(event_ids, dtype=object)[keep]))
    sp_codes, _ = pd.factorize(pd.Series(np.asarray(splits)[keep]))
    pairs = np.unique(ev_codes.astype(np.int64) * 8 + sp_codes)
    n = np.bincount(pairs // 8, minlength=len(ev_uniq))
    return sorted(str(e) for e in np.asarray(ev_uniq, dtype=object)[n > 1])
