"""Continuous-pick evaluation: one-to-one time matching per (trace_id, phase), precision/recall, F1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.data.targets_io import read_csv_checked
from seisforge.errors import DataError


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


#: what an unmatched pick is, by what the other picker has near it (see :func:`unmatched_kinds`)
UNMATCHED_KINDS = ("timing", "second_trigger", "detection")


_EMPTY_GROUP = (np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool))


def _sorted_groups(picks: pd.DataFrame, free: set) -> dict:
    """``(trace_id, phase)`` -> (sorted times, their row labels, whether each is in ``free``), so that
    :func:`unmatched_kinds` finds the picks near one pick by binary search instead of a scan."""
    out = {}
    flagged = picks.assign(_free=picks.index.isin(list(free)))  # once, not once per group
    for key, g in flagged.groupby(["trace_id", "phase"], sort=False):
        g = g.sort_values("time", kind="stable")
        out[key] = (g["time"].to_numpy(dtype=float), g.index.to_numpy(), g["_free"].to_numpy())
    return out


def unmatched_kinds(ref: pd.DataFrame, est: pd.DataFrame, matches: pd.DataFrame,
                    near_s: float = 0.5) -> pd.DataFrame:
    """Why the unmatched picks of :func:`match_pick_frames` have no partner.

    Per unmatched pick, by what the other table holds within ``near_s`` on the same trace and phase:
    ``timing`` (an unmatched pick: the same arrival, picked apart by more than the tolerance),
    ``second_trigger`` (matched picks only: this picker triggered twice on one arrival) or ``detection``
    (nothing: one picker detected an arrival the other did not).

    Returns
    -------
    DataFrame
        ``side`` (``ref``/``est``), ``index`` (the pick's row label), ``kind``, ``other_index`` (the
        nearest such pick of the other table, -1 for a detection).
    """
    only = {"ref": set(matches.ref_index[(matches.ref_index >= 0) & (matches.est_index < 0)]),
            "est": set(matches.est_index[(matches.ref_index < 0) & (matches.est_index >= 0)])}
    tables = {"ref": ref, "est": est}
    rows = []
    for side, other_side in (("ref", "est"), ("est", "ref")):
        own, groups = tables[side], _sorted_groups(tables[other_side], only[other_side])
        for i in sorted(only[side]):
            p = own.loc[i]
            times, labels, free = groups.get((p["trace_id"], p["phase"]), _EMPTY_GROUP)
            lo = np.searchsorted(times, p["time"] - near_s, side="right")
            hi = np.searchsorted(times, p["time"] + near_s, side="left")
            near = np.arange(lo, hi)
            pool, kind = ((near[free[lo:hi]], "timing") if free[lo:hi].any()
                          else (near, "second_trigger" if len(near) else "detection"))
            j = int(labels[pool[np.abs(times[pool] - p["time"]).argmin()]]) if len(pool) else -1
            rows.append((side, int(i), kind, j))
    return pd.DataFrame(rows, columns=["side", "index", "kind", "other_index"])


# ---------------------------------------------------------------------------------------------------
# bench continuous: precision/recall of a picks dataset against a catalog, false picks per station-hour
# ---------------------------------------------------------------------------------------------------

CATALOG_COLUMNS = ("trace_id", "phase", "time")


def to_seconds(times: pd.Series) -> np.ndarray:
    """UTC datetimes (any resolution) -> float seconds since the epoch."""
    return (times.dt.tz_convert("UTC") - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)


#: catalog phase names scored as the picker's P and S (seisforge pick emits only "P" and "S"); names
#: not listed (PmP, pP, SKS, Lg, ...) are counted in ``catalog.unknown_phases`` and left out of the reference
PHASE_MAP = {
    **{name: "P" for name in ("P", "p", "Pg", "Pn", "Pb", "P*")},
    **{name: "S" for name in ("S", "s", "Sg", "Sn", "Sb", "S*")},
}
#: two catalog rows of one trace_id and (mapped) phase closer than this are one arrival listed twice
DUPLICATE_TOLERANCE_S = 1e-3


def read_catalog(path: str | Path, info: dict | None = None) -> pd.DataFrame:
    """Read a reference-pick CSV: ``trace_id`` (NET.STA.LOC), ``phase``, ``time`` (ISO UTC), ``event_id``.

    ``event_id`` is optional (without it every arrival is its own bootstrap cluster). Phase names go
    through :data:`PHASE_MAP` (``Pg``, ``Pn``, ``Pb``, ``P*`` -> ``P``; likewise for S); rows with other
    names are dropped and counted, and rows repeating an arrival (same ``trace_id`` and phase within
    :data:`DUPLICATE_TOLERANCE_S`) are dropped and counted, so duplicates cannot halve recall. The
    counts go into ``info`` (``rows_read``, ``duplicate_rows``, ``unknown_phase_rows``,
    ``unknown_phases``, ``renamed_phases``, ``rows_used``).

    Raises
    ------
    DataError
        Missing file or columns, bad times, an empty catalog, or no P/S arrival after mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"catalog not found: {path}")
    df = read_csv_checked(path, "catalog", dtype={"trace_id": str, "phase": str, "event_id": str},
                          keep_default_na=False)
    missing = [c for c in CATALOG_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; need {list(CATALOG_COLUMNS)} (+ event_id)")
    if df.empty:
        raise DataError(f"catalog {path} has no rows: nothing to score against")
    try:
        df["time"] = to_seconds(pd.to_datetime(df["time"], utc=True, format="ISO8601"))
    except (ValueError, TypeError) as err:
        raise DataError(f"{path}: column time must hold ISO-8601 UTC times: {err}") from err
    if not np.isfinite(df["time"]).all():
        raise DataError(f"{path}: column time has empty or invalid values in {int((~np.isfinite(df['time'])).sum())} rows")
    if "event_id" not in df.columns:
        df["event_id"] = ""
    names = df["phase"].str.strip()
    df["phase"] = names.map(PHASE_MAP)
    unknown = df["phase"].isna()
    renamed = names[~unknown & (names != df["phase"])]
    counts = {"rows_read": int(len(df)), "unknown_phase_rows": int(unknown.sum()),
              "unknown_phases": {str(k): int(v) for k, v in names[unknown].value_counts().items()},
              "renamed_phases": {str(k): int(v) for k, v in renamed.value_counts().items()}}
    df = df[~unknown].sort_values(["trace_id", "phase", "time"], kind="stable")
    same = (df["trace_id"].eq(df["trace_id"].shift()) & df["phase"].eq(df["phase"].shift())
            & (df["time"].diff() < DUPLICATE_TOLERANCE_S))
    counts |= {"duplicate_rows": int(same.sum()), "rows_used": int((~same).sum())}
    df = df[~same]
    if info is not None:
        info.update(counts)
    if df.empty:
        raise DataError(f"catalog {path}: no P or S arrival after mapping phase names "
                        f"(unknown phases: {counts['unknown_phases']}); see PHASE_MAP in docs/metrics.md")
    return df.reset_index(drop=True)


def _picks_as_times(picks: pd.DataFrame) -> pd.DataFrame:
    out = picks[["trace_id", "phase"]].copy()
    out["time"] = to_seconds(picks["peak_time"])
    return out.reset_index(drop=True)


def evaluation_rows(catalog: pd.DataFrame, picks: pd.DataFrame, tolerance: float,
                    fp_cluster_window: float = 60.0) -> pd.DataFrame:
    """One row per reference arrival (``kind="ref"``, matched or not) and per false pick (``kind="fp"``).

    False picks are assigned to the nearest catalog event of their station within
    ``fp_cluster_window`` seconds (else their own cluster), so resampling events also resamples the
    false picks they provoke.
    """
    est = _picks_as_times(picks)
    m = match_pick_frames(catalog, est, tolerance)
    rows = []
    for r in m.itertuples(index=False):
        if r.ref_index >= 0:
            rows.append({"kind": "ref", "trace_id": r.trace_id, "phase": r.phase, "tp": int(r.est_index >= 0),
                         "residual": r.residual, "event_id": catalog.at[r.ref_index, "event_id"]})
        else:
            t = est.at[r.est_index, "time"]
            same = catalog[catalog.trace_id == r.trace_id]
            ev = ""
            if len(same):
                d = (same["time"] - t).abs()
                if d.min() <= fp_cluster_window:
                    ev = same.at[d.idxmin(), "event_id"]
            rows.append({"kind": "fp", "trace_id": r.trace_id, "phase": r.phase, "tp": 0,
                         "residual": np.nan, "event_id": ev})
    return pd.DataFrame(rows, columns=["kind", "trace_id", "phase", "tp", "residual", "event_id"])


def _prf(rows: pd.DataFrame, idx: np.ndarray) -> dict[str, float]:
    sub = rows.iloc[idx]
    is_ref = (sub["kind"] == "ref").to_numpy()
    tp = float(sub["tp"].to_numpy()[is_ref].sum())
    n_ref = float(is_ref.sum())
    n_fp = float((~is_ref).sum())
    precision = tp / (tp + n_fp) if tp + n_fp else float("nan")
    recall = tp / n_ref if n_ref else float("nan")
    f1 = 2 * tp / (n_ref + tp + n_fp) if n_ref + tp + n_fp else float("nan")
    return {"precision": precision, "recall": recall, "f1": f1}


def score_groups(rows: pd.DataFrame, by: list[str], n_boot: int, seed: int) -> pd.DataFrame:
    """Precision/recall/F1 with event-clustered bootstrap CIs per group (and ``all``)."""
    from seisforge.bench.stats import cluster_bootstrap

    out = []
    groups = [(("all",) * len(by), rows)] + list(rows.groupby(by, sort=True)) if by else [(("all",), rows)]
    for key, sub in groups:
        sub = sub.reset_index(drop=True)
        key = key if isinstance(key, tuple) else (key,)
        point = _prf(sub, np.arange(len(sub)))
        ci = cluster_bootstrap(sub["event_id"].to_numpy(), lambda idx, s=sub: _prf(s, idx),
                               n_boot=n_boot, seed=seed)
        rec = dict(zip(by, key))
        rec.update({"n_ref": int((sub.kind == "ref").sum()), "tp": int(sub.tp.sum()),
                    "false_picks": int((sub.kind == "fp").sum())})
        for k, v in point.items():
            rec[k] = v
            rec[f"{k}_ci_low"], rec[f"{k}_ci_high"] = ci[k]
        res = sub.residual.dropna()
        rec["residual_median_s"] = float(res.median()) if len(res) else float("nan")
        rec["residual_mad_s"] = float((res - res.median()).abs().median()) if len(res) else float("nan")
        out.append(rec)
    return pd.DataFrame(out)


def false_picks_per_station_hour(picks_dirs: list[str | Path]) -> dict[str, float]:
    """Picks per station-hour on noise-only data (picks datasets made by ``seisforge pick``)."""
    from seisforge.deploy.store import PickStore, read_picks, valid_seconds

    n_picks, seconds = 0, 0.0
    for d in picks_dirs:
        states = PickStore(d).states()
        if not states:
            raise DataError(f"{d}: not a seisforge pick output (no state/ folder); run seisforge pick first")
        seconds += sum(valid_seconds(s) for s in states)  # without dead, zero-filled or NaN time
        n_picks += len(read_picks(d))
    hours = seconds / 3600.0
    return {"false_picks": n_picks, "station_hours": round(hours, 4),
            "false_picks_per_station_hour": n_picks / hours if hours else float("nan")}


def evaluate(picks_dir: str | Path, catalog_path: str | Path, tolerance: float,
             noise_only: list[str | Path] | None = None, n_boot: int = 1000, seed: int = 0,
             ) -> dict[str, object]:
    """Full ``bench continuous`` evaluation; returns tables and summary figures."""
    from seisforge.deploy.store import read_picks

    if tolerance <= 0:
        raise DataError("--tolerance must be > 0 seconds")
    catalog_info: dict = {}
    catalog = read_catalog(catalog_path, catalog_info)
    picks = read_picks(picks_dir)
    if picks.empty and not (Path(picks_dir) / "state").is_dir():
        raise DataError(f"{picks_dir}: no picks dataset found (expected picks/ and state/)")
    rows = evaluation_rows(catalog, picks, tolerance)
    per_phase = score_groups(rows, ["phase"], n_boot, seed)
    per_station_phase = score_groups(rows, ["trace_id", "phase"], n_boot, seed)
    result: dict[str, object] = {
        "tolerance_s": tolerance, "n_catalog": len(catalog), "n_picks": len(picks),
        "n_events": int(catalog["event_id"].replace("", np.nan).nunique()),
        "catalog": catalog_info,
        "per_phase": per_phase, "per_station_phase": per_station_phase,
        "bootstrap": {"n_boot": n_boot, "seed": seed, "cluster": "event_id"},
    }
    if noise_only:
        result["noise_only"] = false_picks_per_station_hour(noise_only)
    return result
