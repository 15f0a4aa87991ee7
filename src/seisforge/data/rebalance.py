"""Deterministic rebalancing of a manifest: S policies, per-dataset caps, target fractions over bins.

Steps, in this order (each removal is counted by reason):

1. ``null_teleseismic_s``: S picks of teleseismic traces are set to NaN (their S is rarely reliable).
2. ``s_required_in``: earthquake traces in these distance bins (or ``all``) without a valid S pick
   (finite, >= 0, after P) are removed: the S-balanced mode.
3. ``caps``: a dataset with more traces than its cap is subsampled to the cap *proportionally within its
   own strata* (category x the bins of every targeted axis), so its internal composition is kept.
4. ``targets``: fractions over the bins of one or more axes (``distance``, ``magnitude``, ``depth``,
   ``snr``, ``dataset``) for the earthquake traces (noise traces are left as they are). Joint cell
   weights are found by iterative proportional fitting (raking) so that every axis' weighted marginal
   matches its targets; then

   - ``mode: subsample`` keeps ``n_cell * w_cell / max(w)`` traces of each cell (largest cells are cut,
     none is repeated), which hits the targets up to rounding where the data allow;
   - ``mode: weight`` keeps every trace and writes ``w_cell`` (mean 1 over earthquake traces) into the
     ``weight`` column. **Oversampling is by weight, never by repetition**: keys stay unique, and a
     training sampler (e.g. ``torch.utils.data.WeightedRandomSampler`` with replacement) turns the weights
     into repetition in expectation.

   Traces in a bin that an axis' targets do not list (or list with 0) are removed (counted).

Which rows are kept is decided by a seeded hash of the trace key, so the result depends only on the seed
and the set of traces, not on their order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from seisforge.data.bins import DISTANCE, UNKNOWN, Bins, interval_bins
from seisforge.errors import ConfigError

_AXIS_COLUMN = {"magnitude": "magnitude", "depth": "depth_km", "snr": "snr_db",
                # waveform-feature axes (seisforge.data.features)
                "ts_minus_tp": "ts_minus_tp_s", "p_dominant_freq": "p_dominant_freq_hz",
                "p_spectral_centroid": "p_spectral_centroid_hz", "s_dominant_freq": "s_dominant_freq_hz",
                "s_spectral_centroid": "s_spectral_centroid_hz", "p_polarity_confidence": "p_polarity_confidence"}
#: categorical axes and their column (``""``/NaN is ``unknown``)
_CATEGORY_COLUMN = {"distance": "distance_bin", "dataset": "dataset", "p_polarity": "p_polarity",
                    "tectonic_regime": "tectonic_regime"}
AXES = (*_CATEGORY_COLUMN, *_AXIS_COLUMN)


def _default_edges() -> dict[str, list[float]]:
    return {"magnitude": [2.0, 4.0], "depth": [30.0, 70.0], "snr": [5.0, 15.0]}


@dataclass
class RebalanceConfig:
    """Rebalancing policy (see module docstring)."""

    mode: Literal["none", "subsample", "weight"] = "none"
    targets: dict[str, dict[str, float]] = field(default_factory=dict)
    edges: dict[str, list[float]] = field(default_factory=_default_edges)
    caps: dict[str, int] = field(default_factory=dict)
    s_required_in: list[str] = field(default_factory=list)
    null_teleseismic_s: bool = False
    seed: int = 0
    tolerance_pp: float = 2.0
    ipf_iterations: int = 200
    quantiles: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = sorted(set(self.targets) - set(AXES))
        if bad:
            raise ConfigError(f"rebalance.targets: unknown axis {bad}; known: {list(AXES)}")
        for axis, fr in self.targets.items():
            if any(v < 0 for v in fr.values()) or not np.isclose(sum(fr.values()), 1.0, atol=1e-6):
                raise ConfigError(f"rebalance.targets.{axis}: fractions must be >= 0 and sum to 1, got {fr}")
        if self.targets and self.mode == "none":
            raise ConfigError("rebalance.targets given but rebalance.mode is 'none'; use subsample or weight")
        bad_bins = sorted(set(self.s_required_in) - set(DISTANCE.order) - {"all"})
        if bad_bins:
            raise ConfigError(f"rebalance.s_required_in: unknown bin(s) {bad_bins}; use {list(DISTANCE.order)} or all")
        for axis, e in self.edges.items():
            if axis not in _AXIS_COLUMN:
                raise ConfigError(f"rebalance.edges: {axis!r} has no edges (only {list(_AXIS_COLUMN)})")
            if list(e) != sorted(e):
                raise ConfigError(f"rebalance.edges.{axis} must be increasing, got {e}")
        for axis, k in self.quantiles.items():
            if axis not in _AXIS_COLUMN or int(k) < 2:
                raise ConfigError(f"rebalance.quantiles.{axis}: needs a numeric axis ({list(_AXIS_COLUMN)}) "
                                  f"and at least 2 bins, got {k}")


def axis_bins(df: pd.DataFrame, axis: str, cfg: RebalanceConfig) -> np.ndarray:
    """Bin label of every row along ``axis``."""
    if axis == "p_polarity":
        v = df["p_polarity"].to_numpy(dtype=float)
        return np.where(v > 0, "up", np.where(v < 0, "down", UNKNOWN)).astype(object)
    if axis in _CATEGORY_COLUMN:
        v = df[_CATEGORY_COLUMN[axis]].astype("string").fillna("").to_numpy(dtype=object)
        return np.where(v == "", UNKNOWN, v).astype(object)
    values = df[_AXIS_COLUMN[axis]].to_numpy(dtype=float)
    if axis in cfg.quantiles:
        edges = cfg.edges.get(axis)
        if edges is None:  # not resolved yet (rebalance() resolves them once, on the earthquake traces)
            edges = quantile_edges(values, cfg.quantiles[axis])
        return Bins(tuple(edges), tuple(f"q{i + 1}" for i in range(len(edges) + 1))).label(values)
    edges = cfg.edges.get(axis) or _default_edges().get(axis)
    if not edges:
        raise ConfigError(f"rebalance: axis {axis!r} needs edges (rebalance.edges.{axis}) or quantiles")
    return interval_bins(edges).label(values)


def quantile_edges(values: np.ndarray, k: int) -> list[float]:
    """Interior edges of ``k`` equal-count bins of the finite ``values`` (NaN stay ``unknown``)."""
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return [0.0] * (k - 1)
    return [float(x) for x in np.quantile(v, np.arange(1, k) / k)]


def resolve_quantiles(df: pd.DataFrame, cfg: RebalanceConfig) -> tuple[RebalanceConfig, dict]:
    """A config whose quantile axes have fixed edges (computed on the earthquake traces)."""
    if not cfg.quantiles:
        return cfg, {}
    quake = df[df["category"] == "earthquake"]
    edges = {a: quantile_edges(quake[_AXIS_COLUMN[a]].to_numpy(dtype=float), int(k)) for a, k in cfg.quantiles.items()}
    return replace(cfg, edges={**cfg.edges, **edges}), edges


def priority(df: pd.DataFrame, seed: int) -> np.ndarray:
    """Seeded pseudo-random priority per row from its key (order-independent)."""
    return pd.util.hash_pandas_object(df[["dataset", "chunk", "trace_name"]], index=False,
                                      hash_key=f"seisforge{seed:07d}"[-16:]).to_numpy()


def _take(groups: np.ndarray, prio: np.ndarray, quota: dict) -> np.ndarray:
    """Keep the ``quota[g]`` rows of lowest priority value in each group ``g``."""
    codes, uniq = pd.factorize(pd.Series(groups, dtype=object))
    order = np.lexsort((prio, codes))
    sorted_codes = codes[order]
    starts = np.searchsorted(sorted_codes, np.arange(len(uniq)))
    pos = np.arange(len(order)) - starts[sorted_codes]
    q = np.asarray([quota.get(u, 0) for u in uniq], dtype=np.int64)
    keep = np.zeros(len(groups), dtype=bool)
    keep[order] = pos < q[sorted_codes]
    return keep


def _largest_remainder(exact: pd.Series, total: int) -> pd.Series:
    base = np.floor(exact).astype(int)
    short = int(total - base.sum())
    if short > 0:
        order = (exact - base).sort_values(ascending=False, kind="stable").index[:short]
        base[order] += 1
    return base


def _strata(df: pd.DataFrame, cfg: RebalanceConfig) -> np.ndarray:
    parts = [df["category"].astype(str).to_numpy(dtype=object)]
    for axis in cfg.targets:
        if axis != "dataset":
            parts.append(axis_bins(df, axis, cfg))
    out = parts[0]
    for p in parts[1:]:
        out = out + "/" + p
    return out


def _ipf(cells: pd.DataFrame, cfg: RebalanceConfig) -> np.ndarray:
    """Cell weights so that each axis' weighted marginal matches its targets."""
    n = cells["n"].to_numpy(dtype=float)
    w = np.ones(len(cells))
    for _ in range(cfg.ipf_iterations):
        worst = 0.0
        for axis, fr in cfg.targets.items():
            tot = float((w * n).sum())
            marg = pd.Series(w * n).groupby(cells[axis].to_numpy()).sum() / tot
            worst = max(worst, max(abs(fr.get(b, 0.0) - v) for b, v in marg.items()))
            want = cells[axis].map(fr).fillna(0.0).to_numpy(dtype=float)
            have = cells[axis].map(marg).to_numpy(dtype=float)
            w = w * np.where(have > 0, want / np.maximum(have, 1e-300), 0.0)
        if worst < 1e-9:
            break
    return w


class _Removals:
    """Rows still kept, and the counter of rows removed by reason (shared with the manifest build)."""

    def __init__(self, n: int, drops: dict[str, int]):
        self.keep = np.ones(n, dtype=bool)
        self.drops = drops

    def drop(self, mask: np.ndarray, reason: str) -> None:
        """Remove the kept rows in ``mask``, counting them under ``reason``."""
        new = mask & self.keep
        if new.any():
            self.drops[reason] = self.drops.get(reason, 0) + int(new.sum())
        self.keep[new] = False


def rebalance(df: pd.DataFrame, cfg: RebalanceConfig, drops: dict[str, int]) -> tuple[pd.DataFrame, dict]:
    """Apply the policy to a manifest (see module docstring).

    Parameters
    ----------
    df
        Manifest rows.
    cfg
        Policy.
    drops
        Counter of removed rows by reason (updated in place).

    Returns
    -------
    (DataFrame, dict)
        The rebalanced manifest and a report: per targeted axis, target and achieved fractions and the
        bins where they differ by more than ``tolerance_pp`` percentage points, with the reason.
    """
    df = df.copy()
    info: dict = {"mode": cfg.mode, "oversampling": "weight (no repetition)"}
    cfg, qedges = resolve_quantiles(df, cfg)
    if qedges:
        info["quantile_edges"] = qedges
    removals = _Removals(len(df), drops)
    quake = (df["category"] == "earthquake").to_numpy()
    if cfg.null_teleseismic_s:
        info["teleseismic_s_nulled"] = _null_teleseismic_s(df, quake)
    if cfg.s_required_in:
        removals.drop(quake & _distance_bins_needing_s(df, cfg) & ~_valid_s(df), "s_required_no_valid_s")
    prio = priority(df, cfg.seed) if (cfg.caps or cfg.mode == "subsample") and len(df) else np.zeros(len(df), np.uint64)
    if cfg.caps:
        _apply_caps(df, cfg, prio, removals, info)
    if cfg.targets and cfg.mode != "none":
        _apply_targets(df, cfg, quake, prio, removals)
    df = df[removals.keep]
    if cfg.targets and cfg.mode != "none":
        info["targets"] = achieved(df, cfg)
    return df, info


def _null_teleseismic_s(df: pd.DataFrame, quake: np.ndarray) -> int:
    """Set the S picks of teleseismic earthquake traces to NaN (in place); returns how many."""
    tele = quake & (df["distance_bin"] == "teleseismic").to_numpy() & np.isfinite(df["s_sample"].to_numpy())
    df.loc[tele, "s_sample"] = np.nan
    df.loc[tele, "source_phase_column"] = df.loc[tele, "source_phase_column"].str.split(";").str[0] + ";"
    return int(tele.sum())


def _valid_s(df: pd.DataFrame) -> np.ndarray:
    """Rows with a valid S pick: finite, >= 0 and after P (when P is known)."""
    s, p = df["s_sample"].to_numpy(dtype=float), df["p_sample"].to_numpy(dtype=float)
    return np.isfinite(s) & (s >= 0) & ~(np.isfinite(p) & (s <= p))


def _distance_bins_needing_s(df: pd.DataFrame, cfg: RebalanceConfig) -> np.ndarray:
    """Rows in the distance bins of ``s_required_in`` (all rows for ``all``)."""
    if "all" in cfg.s_required_in:
        return np.ones(len(df), bool)
    return df["distance_bin"].isin(cfg.s_required_in).to_numpy()


def _apply_caps(df: pd.DataFrame, cfg: RebalanceConfig, prio: np.ndarray, removals: _Removals, info: dict) -> None:
    """Subsample every dataset above its cap to the cap, proportionally within its strata."""
    unknown = sorted(set(cfg.caps) - set(df["dataset"].unique()))
    if unknown:
        info["caps_for_absent_datasets"] = unknown
    strata = _strata(df, cfg)
    ds = df["dataset"].to_numpy(dtype=object)
    for name, cap in cfg.caps.items():
        m = (ds == name) & removals.keep
        if m.sum() <= cap:
            continue
        counts = pd.Series(strata[m]).value_counts()
        quota = _largest_remainder(counts * cap / m.sum(), cap).to_dict()
        sel = np.zeros(len(df), dtype=bool)
        sel[m] = _take(strata[m], prio[m], quota)
        removals.drop(m & ~sel, "dataset_cap")
    info["caps"] = dict(cfg.caps)


def _apply_targets(df: pd.DataFrame, cfg: RebalanceConfig, quake: np.ndarray, prio: np.ndarray,
                   removals: _Removals) -> None:
    """Target fractions: drop untargeted bins, fit the joint cell weights, then subsample or weight
    (``df["weight"]``, in place)."""
    bins = {axis: axis_bins(df, axis, cfg) for axis in cfg.targets}
    for axis, fr in cfg.targets.items():
        bad = quake & removals.keep & ~np.isin(bins[axis], [b for b, f in fr.items() if f > 0])
        for b in pd.unique(bins[axis][bad]):
            removals.drop(bad & (bins[axis] == b), f"rebalance_untargeted_bin:{axis}={b}")
    rows = np.flatnonzero(quake & removals.keep)
    cell_id = bins[next(iter(cfg.targets))][rows].astype(object)
    for axis in list(cfg.targets)[1:]:
        cell_id = cell_id + "/" + bins[axis][rows]
    cells = pd.DataFrame({a: b[rows] for a, b in bins.items()}).assign(cid=cell_id).groupby(
        "cid", sort=True).agg(n=("cid", "size"), **{a: (a, "first") for a in cfg.targets})
    if not len(cells):
        return
    w = _ipf(cells, cfg)
    if cfg.mode == "subsample":
        exact = cells["n"] * w / w.max()
        keep_n = _largest_remainder(exact, int(round(exact.sum())))
        sel = _take(cell_id, prio[rows], keep_n.to_dict())
        mask = np.zeros(len(df), dtype=bool)
        mask[rows[~sel]] = True
        removals.drop(mask, "rebalance_subsampled")
    else:
        rw = pd.Series(cell_id).map(pd.Series(w, index=cells.index)).to_numpy(dtype=float)
        weights = df["weight"].to_numpy(dtype=float).copy()
        weights[rows] = weights[rows] * rw / rw.mean()
        df["weight"] = weights


def achieved(df: pd.DataFrame, cfg: RebalanceConfig) -> dict:
    """Per targeted axis: target, achieved (weighted) fraction, and bins off by more than the tolerance."""
    quake = df[df["category"] == "earthquake"]
    out = {}
    w = quake["weight"].to_numpy(dtype=float)
    for axis, fr in cfg.targets.items():
        b = pd.Series(axis_bins(quake, axis, cfg))
        got = (pd.Series(w).groupby(b.to_numpy()).sum() / max(w.sum(), 1e-300)).to_dict() if len(b) else {}
        rows = {}
        for name in sorted(set(fr) | set(got)):
            t, a = float(fr.get(name, 0.0)), float(got.get(name, 0.0))
            ok = abs(a - t) * 100 <= cfg.tolerance_pp
            why = "" if ok else ("no traces in this bin" if a == 0 and t > 0 else
                                 "the data do not allow it (joint cells empty or too few traces)")
            rows[name] = {"target": round(t, 4), "achieved": round(a, 4), "within_tolerance": ok, "reason": why}
        out[axis] = rows
    return out
