"""Vectorised derivation of the manifest columns from SeisBench metadata.

Every function takes a metadata :class:`pandas.DataFrame` (SeisBench column names) and returns one
array per row, without Python loops over rows, so that a million rows take seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seisforge.data.bins import DISTANCE
from seisforge.data.features import FEATURE_COLUMNS
from seisforge.data.sources import PHASE_COLUMNS

#: Manifest columns, in order (see ``docs/datasets.md``).
MANIFEST_COLUMNS = [
    "dataset", "chunk", "trace_name", "event_key", "station_key", "split", "p_sample", "s_sample",
    "sampling_rate", "distance_km", "distance_bin", "magnitude", "depth_km", "snr_db", "category", "weight",
    "source_phase_column", "qc_flags", "event_time",
    *FEATURE_COLUMNS,  # waveform/metadata features (seisforge.data.features)
]
KEY_COLUMNS = ["dataset", "chunk", "trace_name"]
#: Second-event columns label a later event inside the trace; they are not the trace's first arrival.
SECOND_EVENT_COLUMNS = ("trace_p2_arrival_sample", "trace_s2_arrival_sample")
EVENT_TIME_ROUND = "1s"
EVENT_LOC_DECIMALS = 2


def _blank(s: pd.Series) -> np.ndarray:
    """True where a string-like column is empty, NaN or the text ``nan``/``None``."""
    txt = s.astype("string").str.strip()
    return (s.isna() | txt.isin(["", "nan", "None", "<NA>"]).fillna(True)).to_numpy()


def numeric(meta: pd.DataFrame, *candidates: str) -> tuple[np.ndarray, np.ndarray]:
    """First present column among ``candidates`` per row, as float.

    Returns the values (NaN when none) and the index of the candidate used (-1 when none). Strings such
    as STEAD's ``"[10.1 12.0 9.8]"`` are averaged.
    """
    out = np.full(len(meta), np.nan)
    used = np.full(len(meta), -1)
    for k, col in enumerate(candidates):
        if col not in meta.columns:
            continue
        vals = meta[col]
        if vals.dtype == object or pd.api.types.is_string_dtype(vals):
            num = pd.to_numeric(vals, errors="coerce")
            bad = num.isna() & vals.notna()
            if bad.any():  # bracketed lists: mean of the numbers
                parts = vals[bad].astype(str).str.strip("[] ").str.split(r"[\s,]+", expand=True)
                num[bad] = parts.apply(pd.to_numeric, errors="coerce").mean(axis=1)
            vals = num
        v = vals.to_numpy(dtype=float, na_value=np.nan)
        take = np.isnan(out) & np.isfinite(v)
        out[take] = v[take]
        used[take] = k
    return out, used


def first_picks(meta: pd.DataFrame, phase: str, scale_to: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Earliest finite onset among the ``phase`` (``"P"``/``"S"``) columns, and the column it came from.

    Second-event columns (``trace_p2/s2``) are ignored: they label another event. Negative onsets are
    kept (as the earliest): they are labels outside the trace, which the manifest's label QC flags and
    handles by its policy (:func:`seisforge.data.quality.apply_pick_policy`).
    """
    cols = [c for c, p in PHASE_COLUMNS.items() if p == phase and c in meta.columns and c not in SECOND_EVENT_COLUMNS]
    if not cols:
        return np.full(len(meta), np.nan), np.full(len(meta), "", dtype=object)
    arr = np.column_stack([pd.to_numeric(meta[c], errors="coerce").to_numpy(dtype=float) for c in cols])
    has = np.isfinite(arr).any(axis=1)
    idx = np.argmin(np.where(np.isfinite(arr), arr, np.inf), axis=1)
    val = np.where(has, arr[np.arange(len(arr)), idx], np.nan)
    names = np.asarray(cols, dtype=object)[idx]
    return val, np.where(has, names, "")


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance (km) on a 6371 km sphere."""
    p1, p2 = np.deg2rad(lat1), np.deg2rad(lat2)
    dlat, dlon = p2 - p1, np.deg2rad(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def distances(meta: pd.DataFrame) -> np.ndarray:
    """Epicentral distance (km): ``path_ep_distance_km``, else ``path_hyp_distance_km``, else the
    great-circle distance from source and station coordinates, else ``path_ep_distance_deg`` x 111.195,
    else NaN."""
    d, _ = numeric(meta, "path_ep_distance_km", "path_hyp_distance_km")
    coords = ("source_latitude_deg", "source_longitude_deg", "station_latitude_deg", "station_longitude_deg")
    if all(c in meta.columns for c in coords):
        vals = [pd.to_numeric(meta[c], errors="coerce").to_numpy(dtype=float) for c in coords]
        miss = np.isnan(d)
        d[miss] = haversine_km(*(v[miss] for v in vals))
    if "path_ep_distance_deg" in meta.columns:
        deg, _ = numeric(meta, "path_ep_distance_deg")
        miss = np.isnan(d)
        d[miss] = deg[miss] * 111.195
    return d


def event_times(meta: pd.DataFrame) -> pd.Series:
    """Origin time (UTC, tz-naive) from ``source_origin_time``; NaT when absent or unparsable."""
    if "source_origin_time" not in meta.columns:
        return pd.Series(pd.NaT, index=meta.index, dtype="datetime64[ns]")
    t = pd.to_datetime(meta["source_origin_time"], errors="coerce", utc=True, format="mixed")
    return t.dt.tz_localize(None).astype("datetime64[ns]")


def event_keys(meta: pd.DataFrame, dataset: str, times: pd.Series | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Event key per row and how it was obtained.

    1. ``source_id`` when non-empty (``"id"``);
    2. else origin time rounded to the second plus the epicentre rounded to 0.01 deg
       (``"ot:2007-01-01T01:42:45|-20.44|-69.28"``; the location part is left out when unknown)
       (``"origin"``);
    3. else, without an origin time, the hypocentre and magnitude
       (``"src:-20.438|-69.277|83.2|1.35"``: latitude/longitude to 0.001 deg, depth to 0.1 km, magnitude to
       0.01) (``"hypocentre"``);
    4. else the trace itself (``"trace:<dataset>|<chunk>|<trace_name>"``): a trace with no event identity
       is its own event (``"trace"``).

    ``times`` are the rows' :func:`event_times` when already computed.
    """
    n = len(meta)
    key = np.full(n, "", dtype=object)
    how = np.full(n, "trace", dtype=object)
    if "source_id" in meta.columns:
        sid = meta["source_id"]
        ok = ~_blank(sid)
        if pd.api.types.is_float_dtype(sid):  # integer ids read back from CSV as floats: no ".0"
            txt = sid[ok].map("{:.0f}".format).to_numpy(dtype=object)
        else:
            txt = sid[ok].astype(str).to_numpy(dtype=object)
        key[ok] = txt
        how[ok] = "id"
    t = event_times(meta) if times is None else times
    todo = (how == "trace") & t.notna().to_numpy()
    lat, _ = numeric(meta, "source_latitude_deg")
    lon, _ = numeric(meta, "source_longitude_deg")
    if todo.any():
        ot = np.datetime_as_string(t[todo].dt.round(EVENT_TIME_ROUND).to_numpy().astype("datetime64[s]"))
        has_loc = np.isfinite(lat[todo]) & np.isfinite(lon[todo])
        loc = ("|" + pd.Series(lat[todo]).round(EVENT_LOC_DECIMALS).astype(str) + "|"
               + pd.Series(lon[todo]).round(EVENT_LOC_DECIMALS).astype(str)).to_numpy(dtype=object)
        key[todo] = "ot:" + ot.astype(object) + np.where(has_loc, loc, "")
        how[todo] = "origin"
    todo = (how == "trace") & np.isfinite(lat) & np.isfinite(lon)
    if todo.any():  # no origin time: the hypocentre and magnitude identify the event
        dep, _ = numeric(meta, "source_depth_km")
        mag, _ = numeric(meta, "source_magnitude")
        parts = [pd.Series(v[todo]).round(d).astype(str) for v, d in ((lat, 3), (lon, 3), (dep, 1), (mag, 2))]
        key[todo] = ("src:" + parts[0] + "|" + parts[1] + "|" + parts[2] + "|" + parts[3]).to_numpy(dtype=object)
        how[todo] = "hypocentre"
    rest = how == "trace"
    if rest.any():
        chunk = meta["trace_chunk"].astype(str)[rest] if "trace_chunk" in meta else ""
        key[rest] = ("trace:" + dataset + "|" + chunk + "|" + meta["trace_name"].astype(str)[rest]).to_numpy(dtype=object)
    return key, how


def station_keys(meta: pd.DataFrame) -> np.ndarray:
    """``NET.STA`` (``NET.STA.LOC`` when a location code is given); ``""`` when unknown."""
    n = len(meta)
    if "station_code" not in meta.columns:
        return np.full(n, "", dtype=object)

    def col(name: str) -> pd.Series:
        if name not in meta.columns:
            return pd.Series([""] * n, index=meta.index, dtype=object)
        s = meta[name].astype("string").fillna("").str.strip()
        return s.mask(s.isin(["nan", "None"]), "")

    net, sta, loc = col("station_network_code"), col("station_code"), col("station_location_code")
    key = net + "." + sta
    key = key.where(loc == "", key + "." + loc)
    return key.where(sta != "", "").to_numpy(dtype=object)


def categories(meta: pd.DataFrame, has_pick: np.ndarray, has_event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``earthquake``/``noise`` per row and whether it was inferred.

    ``trace_category`` is used when present (``noise`` stays noise, every other event category, e.g.
    ``earthquake`` or ``explosion``, is an event trace). Where it is missing the trace is noise when it
    has neither a pick nor an event identity (``source_id`` / origin time).
    """
    inferred = np.ones(len(meta), dtype=bool)
    cat = np.where(has_pick | has_event, "earthquake", "noise").astype(object)
    if "trace_category" in meta.columns:
        given = meta["trace_category"].astype("string").str.strip().str.lower()
        ok = ~_blank(meta["trace_category"])
        cat[ok] = np.where(given[ok].str.contains("noise").to_numpy(dtype=bool), "noise", "earthquake")
        inferred[ok] = False
    return cat, inferred


def manifest_columns(meta: pd.DataFrame, dataset: str) -> tuple[pd.DataFrame, dict]:
    """Derive the manifest columns of one dataset's metadata.

    Parameters
    ----------
    meta
        SeisBench metadata (``trace_chunk`` optional).
    dataset
        Dataset name (the key's first part).

    Returns
    -------
    (DataFrame, dict)
        The manifest rows (``split`` from the metadata, ``""`` when absent; ``weight`` 1; ``qc_flags``
        ``""``) and counts of how columns were obtained (event-key source, inferred categories, ...).
    """
    n = len(meta)
    if "trace_name" not in meta.columns:
        raise ValueError(f"{dataset}: metadata has no trace_name column")
    p, pcol = first_picks(meta, "P")
    s, scol = first_picks(meta, "S")
    sr, _ = numeric(meta, "trace_sampling_rate_hz")
    dist = distances(meta)
    mag, _ = numeric(meta, "source_magnitude")
    depth, _ = numeric(meta, "source_depth_km")
    snr, _ = numeric(meta, "trace_snr_db")
    times = event_times(meta)
    ekey, how = event_keys(meta, dataset, times)
    cat, inferred = categories(meta, np.isfinite(p) | np.isfinite(s), how != "trace")
    index = pd.RangeIndex(n)

    def text(col: str) -> pd.Series:
        if col not in meta.columns:
            return pd.Series([""] * n, index=index, dtype=object)
        return meta[col].fillna("").astype(str).str.strip().set_axis(index)

    noise = cat == "noise"
    # few distinct pick columns: combine them through a lookup instead of per-row string joins
    pc, pu = pd.factorize(pcol)
    sc, su = pd.factorize(scol)
    lut = np.asarray([f"{a};{b}" for a in pu for b in su] or [";"], dtype=object)
    phase_col = lut[pc * max(len(su), 1) + sc]
    df = pd.DataFrame({
        "dataset": pd.Series([dataset] * n, index=index, dtype=object),
        "chunk": text("trace_chunk"),
        "trace_name": meta["trace_name"].astype(str).set_axis(index),
        "event_key": np.where(noise & (how == "trace"), "", ekey),
        "station_key": station_keys(meta),
        "split": text("split"),
        "p_sample": p,
        "s_sample": s,
        "sampling_rate": sr,
        "distance_km": dist,
        "distance_bin": DISTANCE.label(dist),
        "magnitude": mag,
        "depth_km": depth,
        "snr_db": snr,
        "category": cat,
        "weight": np.ones(n),
        "source_phase_column": phase_col,
        "qc_flags": pd.Series([""] * n, index=index, dtype=object),
        "event_time": times.to_numpy(),
    }, index=index)
    stats = {
        "event_key_source": pd.Series(np.where(noise & (how == "trace"), "noise_no_event", how)).value_counts().to_dict(),
        "category_inferred": int(inferred.sum()),
        "no_sampling_rate": int(np.isnan(sr).sum()),
        "no_station": int((df["station_key"] == "").sum()),
    }
    return df, stats
