"""Event-level split assignment: no event ever falls in two splits."""

from __future__ import annotations

import numpy as np

from seisforge.errors import ConfigError

SPLITS = ("train", "dev", "test")


def parse_fractions(text: str | tuple[float, ...] | list[float]) -> tuple[float, float, float]:
    """Parse ``"0.6,0.2,0.2"`` into train/dev/test fractions that sum to 1."""
    vals = [float(x) for x in text.split(",")] if isinstance(text, str) else [float(x) for x in text]
    if len(vals) != 3 or any(v < 0 for v in vals) or not np.isclose(sum(vals), 1.0, atol=1e-6):
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
    ids = np.asarray([
        f"__row{i}" if (e is None or (isinstance(e, float) and np.isnan(e)) or str(e) == "") else str(e)
        for i, e in enumerate(event_ids)
    ])
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(uniq))
    cum = np.cumsum(counts[order]) / max(len(ids), 1)
    bounds = np.cumsum(fractions)
    event_split = np.empty(len(uniq), dtype=object)
    # an event goes to the first split whose cumulative boundary its midpoint has not passed
    mid = cum - counts[order] / max(len(ids), 1) / 2
    for k, pos in enumerate(order):
        j = int(np.searchsorted(bounds, mid[k], side="right"))
        event_split[pos] = SPLITS[min(j, 2)]
    return event_split[inverse].astype(str)
