"""Cluster (event-level) bootstrap confidence intervals.

Rows from the same event are not independent, so resampling rows understates uncertainty. We
resample whole clusters (``source_id``) with replacement and recompute the statistic on the rows of the
drawn clusters, keeping thresholds fixed (they were chosen on dev data).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def cluster_indices(clusters: np.ndarray) -> list[np.ndarray]:
    """Group row indices by cluster label (NaN/None labels become singleton clusters)."""
    labels = np.asarray(clusters, dtype=object)
    groups: dict[object, list[int]] = {}
    for i, lab in enumerate(labels):
        if lab is None or (isinstance(lab, float) and np.isnan(lab)) or lab == "":
            lab = ("__row__", i)
        groups.setdefault(lab, []).append(i)
    return [np.asarray(v, dtype=np.int64) for v in groups.values()]


def cluster_bootstrap(
    clusters: np.ndarray,
    statistic: Callable[[np.ndarray], dict[str, float]],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs with clusters resampled as units.

    Parameters
    ----------
    clusters
        Cluster label per row (e.g. ``source_id``).
    statistic
        Maps an array of row indices (with repeats) to ``{name: value}``.
    n_boot
        Number of resamples; 0 disables and returns NaN intervals.
    seed
        Seed of the resampling generator.
    alpha
        1 - confidence level.

    Returns
    -------
    dict
        ``{name: (low, high)}``; NaN where the statistic was NaN in more than half the resamples.
    """
    groups = cluster_indices(clusters)
    full = statistic(np.arange(len(clusters)))
    if n_boot <= 0 or len(groups) == 0:
        return {k: (float("nan"), float("nan")) for k in full}
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in full}
    for _ in range(n_boot):
        pick = rng.integers(0, len(groups), size=len(groups))
        idx = np.concatenate([groups[i] for i in pick])
        for k, v in statistic(idx).items():
            if k in samples:
                samples[k].append(v)
    out = {}
    for k, vals in samples.items():
        arr = np.asarray(vals, dtype=float)
        finite = arr[np.isfinite(arr)]
        if len(finite) < max(1, len(arr) // 2):
            out[k] = (float("nan"), float("nan"))
        else:
            out[k] = (
                float(np.quantile(finite, alpha / 2)),
                float(np.quantile(finite, 1 - alpha / 2)),
            )
    return out


def clusters_of(df: pd.DataFrame) -> np.ndarray:
    """Bootstrap cluster per prediction row: ``source_id``, or the trace key for rows without one (noise)."""
    sid = df["source_id"].fillna("").astype(str) if "source_id" in df else pd.Series("", index=df.index)
    key = df["trace_key"].astype(str) if "trace_key" in df else df["trace_name"].astype(str)
    return np.where(sid.to_numpy() == "", "trace:" + key.to_numpy(), sid.to_numpy())
