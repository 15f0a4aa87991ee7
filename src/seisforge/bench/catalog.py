"""Event-level benchmark of a catalog against a reference catalog (``seisforge bench catalog``).

**Matching.** One-to-one, by the Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`)
on the cost ``|dt| / time_tol + epicentral_distance / dist_tol``, where only pairs with
``|dt| <= time_tol`` **and** ``distance <= dist_tol`` (both edges included) are allowed. The total
cost of the matched pairs is minimal; among equal-cost solutions the result is deterministic (both
catalogs are sorted by origin time, then id, before matching).

**Scores** (definitions in docs/catalog.md): event precision (matched found / found), recall
(matched reference / reference; also over the reference's ``visible`` events when it has that column)
and F1; origin-time, epicentral and depth errors of matched pairs (median of the absolute error,
MAE, RMS, mean signed error); pick-assignment precision and recall (a found pick is correct when it
is within ``pick_tol`` of a reference arrival of the same station and phase whose event is matched to
the pick's event); recall per magnitude bin (:data:`seisforge.data.bins.MAGNITUDE`). Every score has an
event-bootstrap 95 % CI (:func:`seisforge.bench.stats.cluster_bootstrap`; a matched pair is one cluster).

``catalog_leaderboard`` compares runs with paired bootstrap differences, as ``bench compare`` does;
because false events are not shared between runs, the resampled units there are 10-minute blocks of
origin time (the same blocks for every run).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.bench.stats import cluster_bootstrap
from seisforge.data.bins import MAGNITUDE, ordered
from seisforge.data.catalog_io import read_events
from seisforge.errors import DataError
from seisforge.runinfo import environment, write_json

KM_PER_DEG = 111.19492664455873
BLOCK_S = 600.0


def epicentral_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance (km) between points (broadcasting; ObsPy's ``locations2degrees``)."""
    from obspy.geodetics import locations2degrees

    return np.asarray(locations2degrees(lat1, lon1, lat2, lon2)) * KM_PER_DEG


def match_events(ref: pd.DataFrame, found: pd.DataFrame, time_tol: float, dist_tol_km: float) -> pd.DataFrame:
    """One-to-one matches ``ref_index, found_index, dt_s, dist_km, ddepth_km`` (positional indices)."""
    from scipy.optimize import linear_sum_assignment

    cols = ["ref_index", "found_index", "dt_s", "dist_km", "ddepth_km"]
    if ref.empty or found.empty:
        return pd.DataFrame(columns=cols)
    tr = ref["time"].to_numpy("datetime64[ns]").astype("int64") / 1e9
    tf = found["time"].to_numpy("datetime64[ns]").astype("int64") / 1e9
    dt = tf[None, :] - tr[:, None]
    dist = epicentral_km(ref["latitude"].to_numpy(float)[:, None], ref["longitude"].to_numpy(float)[:, None],
                         found["latitude"].to_numpy(float)[None, :], found["longitude"].to_numpy(float)[None, :])
    ok = (np.abs(dt) <= time_tol) & (dist <= dist_tol_km)
    cost = np.where(ok, np.abs(dt) / time_tol + dist / dist_tol_km, 1e6)
    r, f = linear_sum_assignment(cost)
    keep = ok[r, f]
    r, f = r[keep], f[keep]
    return pd.DataFrame({"ref_index": r, "found_index": f, "dt_s": dt[r, f], "dist_km": dist[r, f],
                         "ddepth_km": found["depth_km"].to_numpy(float)[f] - ref["depth_km"].to_numpy(float)[r]},
                        columns=cols)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["time"] = pd.to_datetime(df["time"], utc=True)
    df["event_id"] = df["event_id"].astype(str)
    return df.sort_values(["time", "event_id"], kind="stable").reset_index(drop=True)


def _pick_counts(found_picks: pd.DataFrame | None, ref_picks: pd.DataFrame | None, f2r: dict[str, str],
                 pick_tol: float) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Per found event: assigned picks, correct picks; per reference event: reference arrivals."""
    empty = pd.Series(dtype=float)
    if found_picks is None or ref_picks is None:
        return empty, empty, empty
    fp = found_picks[found_picks["event_id"].astype(str) != ""].copy()
    rp = ref_picks.copy()
    if "above_noise" in rp.columns:
        rp = rp[rp["above_noise"].astype(bool)]
    rtime = pd.to_datetime(rp["recorded_time"] if "recorded_time" in rp.columns else rp["time"], utc=True)
    rp = rp.assign(t=rtime.dt.as_unit("ns").astype("int64") / 1e9, event_id=rp["event_id"].astype(str))
    ftime = pd.to_datetime(fp["peak_time"] if "peak_time" in fp.columns else fp["time"], utc=True)
    fp = fp.assign(t=ftime.dt.as_unit("ns").astype("int64") / 1e9, ref_event=fp["event_id"].map(f2r))
    m = fp.dropna(subset=["ref_event"]).merge(rp[["trace_id", "phase", "event_id", "t"]], how="inner",
                                             left_on=["trace_id", "phase", "ref_event"],
                                             right_on=["trace_id", "phase", "event_id"], suffixes=("", "_ref"))
    m = m[np.abs(m["t"] - m["t_ref"]) <= pick_tol].drop_duplicates(["trace_id", "phase", "t"])
    return (fp.groupby("event_id").size(), m.groupby("event_id").size(), rp.groupby("event_id").size())


def event_rows(ref: pd.DataFrame, found: pd.DataFrame, matches: pd.DataFrame, ref_picks, found_picks,
               pick_tol: float) -> pd.DataFrame:
    """One row per matched pair, unmatched reference event and unmatched found event (bootstrap units)."""
    f2r = dict(zip(found["event_id"].to_numpy()[matches["found_index"].astype(int)],
                   ref["event_id"].to_numpy()[matches["ref_index"].astype(int)]))
    n_assigned, n_correct, n_ref_arr = _pick_counts(found_picks, ref_picks, f2r, pick_tol)
    visible = ref["visible"].astype(bool).to_numpy() if "visible" in ref.columns else np.ones(len(ref), bool)
    mag = ref["magnitude"].to_numpy(float) if "magnitude" in ref.columns else np.full(len(ref), np.nan)
    rows = []
    mr, mf = set(matches["ref_index"].astype(int)), set(matches["found_index"].astype(int))
    for m in matches.itertuples(index=False):
        r, f = int(m.ref_index), int(m.found_index)
        rows.append({"ref_id": ref["event_id"].iat[r], "found_id": found["event_id"].iat[f],
                     "time": ref["time"].iat[r], "magnitude": mag[r], "visible": visible[r],
                     "dt_s": m.dt_s, "dist_km": m.dist_km, "ddepth_km": m.ddepth_km})
    for r in sorted(set(range(len(ref))) - mr):
        rows.append({"ref_id": ref["event_id"].iat[r], "found_id": "", "time": ref["time"].iat[r],
                     "magnitude": mag[r], "visible": visible[r]})
    for f in sorted(set(range(len(found))) - mf):
        rows.append({"ref_id": "", "found_id": found["event_id"].iat[f], "time": found["time"].iat[f]})
    cols = ["ref_id", "found_id", "time", "magnitude", "visible", "dt_s", "dist_km", "ddepth_km"]
    df = pd.DataFrame(rows, columns=cols)
    df["n_assigned"] = df["found_id"].map(n_assigned).fillna(0).astype(float)
    df["n_correct"] = df["found_id"].map(n_correct).fillna(0).astype(float)
    df["n_ref_arrivals"] = df["ref_id"].map(n_ref_arr).fillna(0).astype(float)
    df["magnitude_bin"] = MAGNITUDE.label(df["magnitude"].to_numpy(float))
    return df


def _err(x: np.ndarray, name: str) -> dict[str, float]:
    x = x[np.isfinite(x)]
    if not len(x):
        return {f"{name}_median_abs": np.nan, f"{name}_mae": np.nan, f"{name}_rms": np.nan, f"{name}_bias": np.nan}
    return {f"{name}_median_abs": float(np.median(np.abs(x))), f"{name}_mae": float(np.mean(np.abs(x))),
            f"{name}_rms": float(np.sqrt(np.mean(x**2))), f"{name}_bias": float(np.mean(x))}


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def scores(rows: pd.DataFrame) -> dict[str, float]:
    """All scalar scores of :func:`event_rows` rows (a bootstrap resample may repeat rows)."""
    is_ref, is_found = (rows["ref_id"] != "").to_numpy(), (rows["found_id"] != "").to_numpy()
    matched, vis = is_ref & is_found, rows["visible"].fillna(False).astype(bool).to_numpy() & is_ref
    p, r = _ratio(matched.sum(), is_found.sum()), _ratio(matched.sum(), is_ref.sum())
    out = {"precision": p, "recall": r, "f1": _ratio(2 * p * r, p + r) if p == p and r == r else np.nan,
           "recall_visible": _ratio((matched & vis).sum(), vis.sum())}
    rv = out["recall_visible"]
    out["f1_visible"] = _ratio(2 * p * rv, p + rv) if p == p and rv == rv else np.nan
    m = rows[matched]
    for col, name in (("dt_s", "origin_time_s"), ("dist_km", "epicentral_km"), ("ddepth_km", "depth_km")):
        out.update(_err(m[col].to_numpy(float), name))
    out["pick_precision"] = _ratio(rows["n_correct"].sum(), rows["n_assigned"].sum())
    out["pick_recall"] = _ratio(rows["n_correct"].sum(), rows["n_ref_arrivals"].sum())
    for b in MAGNITUDE.order:
        sel = is_ref & (rows["magnitude_bin"] == b).to_numpy()
        if sel.any():
            out[f"recall_mag_{b}"] = _ratio((matched & sel).sum(), sel.sum())
    return out


def evaluate_catalog(catalog: str | Path, reference: str | Path, out: str | Path, time_tol: float = 3.0,
                     dist_tol_km: float = 15.0, pick_tol: float = 0.5, n_boot: int = 1000, seed: int = 0,
                     stations: str | Path | None = None) -> dict:
    """Score ``catalog`` (an ``associate`` folder or QuakeML) against ``reference``; write outputs to ``out``."""
    if time_tol <= 0 or dist_tol_km <= 0:
        raise DataError("--time-tol and --dist-tol-km must be > 0")
    found, found_picks = read_events(catalog)
    ref, ref_picks = read_events(reference)
    found, ref = _sorted(found), _sorted(ref)
    matches = match_events(ref, found, time_tol, dist_tol_km)
    rows = event_rows(ref, found, matches, ref_picks, found_picks, pick_tol)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(out / "event_rows.parquet")
    clusters = np.where(rows["ref_id"] != "", rows["ref_id"], "found:" + rows["found_id"])
    ci = cluster_bootstrap(clusters, lambda idx: scores(rows.iloc[idx]), n_boot, seed)
    result = {
        "catalog": str(catalog), "reference": str(reference),
        "tolerances": {"time_s": time_tol, "epicentral_km": dist_tol_km, "pick_s": pick_tol},
        "n_reference": len(ref), "n_found": len(found), "n_matched": len(matches),
        "n_reference_visible": int(rows.loc[rows["ref_id"] != "", "visible"].fillna(False).astype(bool).sum()),
        "metrics": scores(rows), "ci95": {k: list(v) for k, v in ci.items()},
        "n_boot": n_boot, "seed": seed, "environment": environment(),
    }
    write_json(result, out / "catalog_metrics.json")
    result["figures"] = [str(p) for p in figures(ref, found, matches, rows, out, stations)]
    return result


def figures(ref: pd.DataFrame, found: pd.DataFrame, matches: pd.DataFrame, rows: pd.DataFrame, out: Path,
            stations: str | Path | None = None) -> list[Path]:
    """Map of true vs found events, error histograms, recall vs magnitude (Okabe-Ito colours)."""
    from seisforge.bench.report import pyplot as _pyplot

    plt = _pyplot()
    blue, orange, green, grey = "#0072B2", "#E69F00", "#009E73", "#999999"
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for m in matches.itertuples(index=False):
        r, f = int(m.ref_index), int(m.found_index)
        ax.plot([ref["longitude"].iat[r], found["longitude"].iat[f]], [ref["latitude"].iat[r],
                found["latitude"].iat[f]], color=grey, lw=0.7)
    ax.scatter(ref["longitude"], ref["latitude"], s=28, facecolors="none", edgecolors=blue, label="reference")
    ax.scatter(found["longitude"], found["latitude"], s=10, color=orange, marker="x", label="found")
    if stations is not None and Path(stations).suffix == ".csv":
        st = pd.read_csv(stations)
        ax.scatter(st["longitude"], st["latitude"], marker="^", color=green, s=40, label="stations")
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_title(f"{len(matches)} matched of {len(ref)} reference / {len(found)} found")
    ax.legend(fontsize=8)
    paths = [_save(fig, out / "map.png")]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    m = rows[(rows["ref_id"] != "") & (rows["found_id"] != "")]
    for a, (col, label) in zip(axes, (("dt_s", "origin-time error (s)"), ("dist_km", "epicentral error (km)"),
                                      ("ddepth_km", "depth error (km)"))):
        a.hist(m[col].dropna(), bins=30, color=blue)
        a.set_xlabel(label)
        a.set_ylabel("matched events")
    paths.append(_save(fig, out / "errors.png"))
    refs = rows[rows["ref_id"] != ""]
    bins = ordered(refs["magnitude_bin"], MAGNITUDE)
    rec = [(refs.loc[refs["magnitude_bin"] == b, "found_id"] != "").mean() for b in bins]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.bar(range(len(bins)), rec, color=blue)
    ax.set_xticks(range(len(bins)), [f"{b}\n(n={int((refs['magnitude_bin'] == b).sum())})" for b in bins])
    ax.set_xlabel("magnitude bin")
    ax.set_ylabel("event recall")
    ax.set_ylim(0, 1.05)
    paths.append(_save(fig, out / "recall_vs_magnitude.png"))
    return paths


def _save(fig, path: Path) -> Path:
    from seisforge.bench.report import pyplot as _pyplot

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


LEADERBOARD_KEYS = ["precision", "recall", "recall_visible", "f1_visible", "origin_time_s_mae",
                    "epicentral_km_mae", "depth_km_mae", "pick_precision", "pick_recall"]


def catalog_leaderboard(run_dirs: list[str | Path], out: str | Path, names: list[str] | None = None,
                        n_boot: int = 1000, seed: int = 0) -> list[Path]:
    """Side-by-side table of ``bench catalog`` outputs and paired differences against the first run.

    The paired CIs resample 10-minute blocks of origin time, identical for every run, with
    :func:`cluster_bootstrap` (as ``bench compare`` resamples events for both models at once).
    """
    from seisforge.bench.report import _fmt

    dirs = [Path(d) for d in run_dirs]
    names = names or [d.name for d in dirs]
    if len(names) != len(dirs):
        raise DataError("--names needs one name per run")
    for d in dirs:
        if not (d / "catalog_metrics.json").is_file():
            raise DataError(f"{d} holds no catalog_metrics.json (run `seisforge bench catalog` first)")
    res = {n: json.loads((d / "catalog_metrics.json").read_text()) for n, d in zip(names, dirs)}
    rows = {n: pd.read_parquet(d / "event_rows.parquet") for n, d in zip(names, dirs)}
    table = [{"run": n, **{k: r["metrics"].get(k) for k in LEADERBOARD_KEYS},
              **{f"{k}_ci": r["ci95"].get(k) for k in LEADERBOARD_KEYS}} for n, r in res.items()]
    lines = ["| run | " + " | ".join(LEADERBOARD_KEYS) + " |", "|---" * (len(LEADERBOARD_KEYS) + 1) + "|"]
    lines += ["| " + n + " | " + " | ".join(_fmt(r["metrics"].get(k), r["ci95"].get(k)) for k in LEADERBOARD_KEYS)
              + " |" for n, r in res.items()]
    base = names[0]
    lines += ["", f"Paired differences against {base} (95% CI, 10-minute blocks resampled):", "",
              "| run | metric | delta | 95% CI |", "|---|---|---|---|"]
    deltas = {}
    for n in names[1:]:
        deltas[n] = paired_delta(rows[base], rows[n], n_boot, seed)
        for k in LEADERBOARD_KEYS:
            v, (lo, hi) = deltas[n]["delta"].get(k, np.nan), deltas[n]["ci95"].get(k, (np.nan, np.nan))
            lines.append(f"| {n} | {k} | {v:+.3f} | [{lo:+.3f}, {hi:+.3f}] |")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(table).to_csv(out / "catalog_leaderboard.csv", index=False)
    (out / "catalog_leaderboard.md").write_text("\n".join(lines) + "\n")
    write_json({"runs": {n: str(d) for n, d in zip(names, dirs)}, "base": base, "paired": deltas},
               out / "catalog_compare.json")
    return [out / "catalog_leaderboard.md", out / "catalog_leaderboard.csv", out / "catalog_compare.json"]


def paired_delta(base: pd.DataFrame, other: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict:
    """``other - base`` scores with a paired block bootstrap (10-minute origin-time blocks)."""
    both = pd.concat([base.assign(run=0), other.assign(run=1)], ignore_index=True)
    block = (pd.to_datetime(both["time"], utc=True).dt.as_unit("ns").astype("int64") // int(BLOCK_S * 1e9))
    run = both["run"].to_numpy()
    by_block = pd.Series(np.arange(len(both))).groupby(block.to_numpy()).apply(list).to_dict()
    keys = list(by_block)

    def diff(idx):  # idx indexes blocks (via the cluster labels below): split rows by run
        rows_ = both.iloc[idx]
        a, b = scores(rows_[run[idx] == 0]), scores(rows_[run[idx] == 1])
        return {k: b[k] - a[k] for k in LEADERBOARD_KEYS if k in a and k in b}

    labels = np.empty(len(both), dtype=object)
    for k in keys:
        labels[by_block[k]] = k
    delta = diff(np.arange(len(both)))
    ci = cluster_bootstrap(labels, diff, n_boot, seed)
    return {"delta": delta, "ci95": {k: list(v) for k, v in ci.items()}}
