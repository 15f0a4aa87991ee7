"""Label fractions: a seeded subset of a train split's events (for label-efficiency studies)."""

from __future__ import annotations

import numpy as np

from seisforge.data.sources import phase_columns
from seisforge.errors import ConfigError
from seisforge.train.data import SplitData


def event_subset(data: SplitData, fraction: float, seed: int) -> SplitData:
    """Keep ``fraction`` of the events of ``data`` (all their traces) and the same fraction of its noise traces.

    Events are the ``source_id`` values; traces without one (noise) are drawn one by one. The draw is
    seeded by ``seed`` and taken in sorted event order, so it is the same on every machine; a smaller
    fraction with the same seed is not nested in a larger one.

    Raises
    ------
    ConfigError
        For a fraction outside (0, 1], or one that leaves no event, or no labelled P or S pick.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ConfigError(f"label_fraction must be in (0, 1], got {fraction!r}")
    if fraction == 1:
        return data
    rng = np.random.default_rng(seed)
    events = np.asarray(data.events, dtype=str)
    has_event = events != ""
    unique = np.unique(events[has_event])
    n_events = int(round(fraction * len(unique)))
    if n_events == 0:
        raise ConfigError(f"label_fraction {fraction} of {len(unique)} train events leaves no event; "
                          f"use at least {1 / max(len(unique), 1):.3g}")
    chosen = rng.choice(unique, n_events, replace=False)
    noise_idx = np.flatnonzero(~has_event)
    keep_noise = rng.choice(noise_idx, int(round(fraction * len(noise_idx))), replace=False)
    mask = np.isin(events, chosen)
    mask[keep_noise] = True
    subset = data.select(mask)
    _check_classes(subset, fraction, n_events)
    return subset


def _check_classes(subset: SplitData, fraction: float, n_events: int) -> None:
    """ConfigError when the subset has no labelled P or no labelled S arrival."""
    found = {"P": 0, "S": 0}
    for part in subset.parts:
        for col, phase in phase_columns(part.metadata).items():
            if phase[:1] in found:
                found[phase[:1]] += int(part.metadata[col].notna().sum())
    empty = [p for p, n in found.items() if n == 0]
    if empty:
        raise ConfigError(f"label_fraction {fraction} ({n_events} events) leaves no labelled "
                          f"{' or '.join(empty)} pick in the train split; use a larger fraction or another label_seed")
