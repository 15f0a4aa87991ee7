"""Training manifests: one auditable Parquet row per trace, with provenance, QC, splits and rebalancing.

:func:`build_manifest` runs, in order (every removal counted by reason in the report):

1. open every dataset (:func:`seisforge.data.sources.open_dataset`) and derive the manifest columns
   (:func:`seisforge.data.manifest_columns.manifest_columns`);
2. QC every waveform (:mod:`seisforge.data.quality`) and apply the keep/drop/error policy;
3. filters (categories, minimum SNR, maximum distance, magnitude range);
4. ``--drop-flags`` (clean-labels flags, matched by key) and ``--exclude-bench``;
5. splits (``keep`` the datasets' splits, or assign by ``event``/``station``/``time``);
6. rebalancing (:mod:`seisforge.data.rebalance`).

:func:`seisforge.data.manifest_io.write_manifest` writes it (``NAME.parquet`` with its provenance,
``NAME.sha256`` and the reports); :func:`seisforge.data.manifest_io.read_manifest` reads it back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from seisforge.config import to_dict
from seisforge.data.bins import DISTANCE
from seisforge.data.features import FeatureConfig, add_features, dataset_features, feature_counts
from seisforge.data.leakage import exclusion_mask, load_bench
from seisforge.data.manifest_columns import KEY_COLUMNS, MANIFEST_COLUMNS, manifest_columns
from seisforge.data.manifest_io import FORMAT_VERSION, manifest_key
from seisforge.data.quality import (
    QcConfig,
    apply_pick_policy,
    apply_policy,
    flag_counts,
    mark_duplicates,
    scan_dataset,
)
from seisforge.data.rebalance import RebalanceConfig, rebalance
from seisforge.data.splits import (
    assign_event_splits,
    assign_station_splits,
    assign_time_splits,
    events_in_several_splits,
)
from seisforge.errors import ConfigError, DataError
from seisforge.paths import resolve_under

log = logging.getLogger(__name__)


@dataclass
class DatasetEntry:
    """One input dataset: a folder (relative to ``data_root``) or a SeisBench class name."""

    source: str
    name: str | None = None


@dataclass
class FilterConfig:
    """Row filters (applied after QC); ``None`` disables a filter."""

    categories: list[str] | None = None
    min_snr_db: float | None = None
    max_distance_km: float | None = None
    min_magnitude: float | None = None
    max_magnitude: float | None = None


@dataclass
class SplitConfig:
    """``keep`` uses the datasets' ``split`` column (rows without one are assigned by event)."""

    by: Literal["keep", "event", "station", "time"] = "keep"
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 0


@dataclass
class ManifestConfig:
    """Manifest build configuration (``seisforge data manifest CONFIG.yaml``)."""

    datasets: list[DatasetEntry] = field(default_factory=list)
    data_root: str | None = None
    filters: FilterConfig = field(default_factory=FilterConfig)
    qc: QcConfig = field(default_factory=QcConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    rebalance: RebalanceConfig = field(default_factory=RebalanceConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    exclude_bench: str | None = None
    exclude_bench_dataset: str | None = None
    exclude_bench_stations: bool = False
    drop_flags: str | None = None


def resolve_sources(cfg: ManifestConfig, config_dir: Path | None) -> list[tuple[str, str]]:
    """``(name, source)`` per dataset. Config paths resolve under ``data_root`` (default: the config's
    folder) and may not escape it; names without a slash that do not exist there are SeisBench classes."""
    root = Path(cfg.data_root) if cfg.data_root else config_dir
    if root is not None and not root.is_absolute() and config_dir is not None:
        root = config_dir / root
    out = []
    for entry in cfg.datasets:
        src = entry.source
        if root is not None and ("/" in src or (root / src).exists()):
            src = str(resolve_under(root, src))
        name = entry.name or (Path(src).name if Path(src).exists() else src)
        out.append((name, src))
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"datasets: names {dup} repeat; give each entry a distinct 'name'")
    return out


def bin_table(df: pd.DataFrame) -> dict:
    if df.empty:
        return {}
    t = df.groupby(["dataset", "distance_bin"]).size().unstack(fill_value=0)
    t = t.reindex(columns=[b for b in DISTANCE.order if b in t.columns])
    return {ds: {b: int(v) for b, v in row.items()} for ds, row in t.iterrows()}


def assemble(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-dataset manifest frames and check the key is unique."""
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=MANIFEST_COLUMNS)
    dup = df.duplicated(KEY_COLUMNS)
    if dup.any():
        raise DataError(f"{int(dup.sum())} duplicate manifest keys (dataset, chunk, trace_name), e.g. "
                        f"{list(manifest_key(df[dup]).iloc[:3])}")
    return df


def apply_filters(df: pd.DataFrame, f: FilterConfig, drops: dict[str, int]) -> pd.DataFrame:
    """Apply :class:`FilterConfig`; NaN values fail numeric filters (counted separately)."""
    tests = []
    if f.categories is not None:
        tests.append(("filter_category", ~df["category"].isin(f.categories)))
    for name, col, op, val in (("snr", "snr_db", "ge", f.min_snr_db), ("distance", "distance_km", "le", f.max_distance_km),
                               ("magnitude_min", "magnitude", "ge", f.min_magnitude),
                               ("magnitude_max", "magnitude", "le", f.max_magnitude)):
        if val is None:
            continue
        v = df[col]
        ok = v >= val if op == "ge" else v <= val
        tests.append((f"filter_{name}_unknown", v.isna()))
        tests.append((f"filter_{name}", ~ok & v.notna()))
    drop = np.zeros(len(df), dtype=bool)
    for reason, mask in tests:
        new = mask.to_numpy() & ~drop
        if new.any():
            drops[reason] = drops.get(reason, 0) + int(new.sum())
        drop |= mask.to_numpy()
    return df[~drop]


def assign_splits(df: pd.DataFrame, cfg: SplitConfig, drops: dict[str, int]) -> tuple[pd.DataFrame, dict]:
    """Fill ``split`` by the configured mode; returns the frame and split notes."""
    df = df.copy()
    info: dict = {"by": cfg.by, "fractions": list(cfg.fractions), "seed": cfg.seed}
    ids = np.where(df["event_key"] == "", "", df["event_key"].to_numpy(dtype=object))
    if cfg.by == "keep":
        missing = ~df["split"].isin(["train", "dev", "test"]).to_numpy()
        if missing.any():
            df.loc[missing, "split"] = assign_event_splits(ids[missing], cfg.fractions, cfg.seed)
            info["assigned_by_event_no_valid_split"] = int(missing.sum())
    elif cfg.by == "event":
        df["split"] = assign_event_splits(ids, cfg.fractions, cfg.seed)
    elif cfg.by == "station":
        stations = np.where(df["station_key"] == "", manifest_key(df), df["station_key"])
        split, conflict = assign_station_splits(stations, ids, cfg.fractions, cfg.seed)
        df["split"] = split
        if conflict.any():
            drops["split_event_station_conflict"] = drops.get("split_event_station_conflict", 0) + int(conflict.sum())
            df = df[~conflict]
    else:
        split, untimed = assign_time_splits(ids, df["event_time"], cfg.fractions, cfg.seed)
        df["split"] = split
        info["rows_without_time_split_by_event"] = int(untimed.sum())
    several = events_in_several_splits(df["event_key"], df["split"])
    info["events_in_several_splits"] = len(several)
    if several:
        info["events_in_several_splits_examples"] = several[:10]
        log.warning("%d events occur in several splits (kept from the datasets' split columns); "
                    "use split by: event to fix", len(several))
    info["rows_per_split"] = {k: int(v) for k, v in df["split"].value_counts().sort_index().items()}
    return df, info


def build_manifest(
    cfg: ManifestConfig, config_dir: str | Path | None = None, sources: list[tuple[str, str]] | None = None
) -> tuple[pd.DataFrame, dict]:
    """Build a manifest (see module docstring).

    Parameters
    ----------
    cfg
        Configuration.
    config_dir
        Folder of the config file (root for relative dataset paths).
    sources
        ``(name, source)`` pairs overriding ``cfg.datasets`` (the ``--dataset`` CLI path).

    Returns
    -------
    (DataFrame, dict)
        Manifest rows sorted by key, and the report (counts before/after, drops by reason, QC, splits,
        rebalancing targets against achieved fractions).
    """
    from seisforge.data.sources import open_dataset

    sources = sources if sources is not None else resolve_sources(cfg, Path(config_dir) if config_dir else None)
    if not sources:
        raise ConfigError("no datasets: list them under 'datasets' or pass --dataset")
    metas, scans, feats = [], {}, {}
    for name, src in sources:
        ds = open_dataset(src)
        metas.append((name, ds.metadata, str(src)))
        if cfg.qc.enabled:
            scans[name] = scan_dataset(ds, cfg.qc, desc=f"qc {name}")
        if cfg.features.enabled:  # waveform features: a second read of every trace
            from seisforge.data.manifest_columns import first_picks, numeric

            picks = [first_picks(ds.metadata, ph)[0] for ph in ("P", "S")]
            sr = numeric(ds.metadata, "trace_sampling_rate_hz")[0]
            feats[name] = dataset_features(ds, *picks, sr, cfg.features, desc=f"features {name}")
    return manifest_from_metadata(metas, cfg, scans if cfg.qc.enabled else None, feats or None)


def manifest_from_metadata(
    metas: list[tuple[str, pd.DataFrame, str]], cfg: ManifestConfig,
    qc_scans: dict[str, tuple[np.ndarray, ...]] | None = None,
    waveform_features: dict[str, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """:func:`build_manifest` after the waveform scan: columns, QC policy, filters, flags, benchmark
    exclusion, splits and rebalancing, on metadata already loaded (vectorised).

    Parameters
    ----------
    metas
        ``(name, metadata, source)`` per dataset.
    cfg
        Configuration.
    qc_scans
        Per dataset name, the QC flags, waveform hashes and (optionally) trace lengths from
        :func:`seisforge.data.quality.scan_dataset` (``None``: QC not run, reported as such).
    waveform_features
        Per dataset name, :func:`seisforge.data.features.dataset_features` (``None``: NaN features).
    """
    drops: dict[str, int] = {}
    frames, stats = [], {}
    for name, meta, src in metas:
        cols, st = manifest_columns(meta, name)
        cols = add_features(cols, meta, name, cfg.features, (waveform_features or {}).get(name))
        if qc_scans is not None:
            cols["qc_flags"] = qc_scans[name][0]
            if len(qc_scans[name]) > 2:  # trace lengths: label QC of picks outside the trace
                cols["n_samples"] = qc_scans[name][2]
        frames.append(cols)
        stats[name] = {"source": src, "traces": int(len(cols)), **st}
    df = assemble(frames)
    before = bin_table(df)
    qc = {"enabled": qc_scans is not None, "policy": dict(cfg.qc.policy)}
    if qc_scans is not None:
        hashes = np.concatenate([qc_scans[name][1] for name, _, _ in metas]) if metas else np.array([])
        df["qc_flags"] = mark_duplicates(manifest_key(df), df["qc_flags"].to_numpy(dtype=object), hashes)
        qc["flag_counts"] = flag_counts(df["qc_flags"])
        df = apply_policy(df, cfg.qc, drops)
    df, qc["picks_dropped_outside_trace"] = apply_pick_policy(df, cfg.qc, drops)
    df = apply_filters(df, cfg.filters, drops)
    notes: dict = {}
    if cfg.drop_flags:
        df, notes["drop_flags"] = drop_flagged(df, cfg.drop_flags, drops)
    if cfg.exclude_bench:
        bench = load_bench(cfg.exclude_bench, cfg.exclude_bench_dataset)
        masks = exclusion_mask(df, bench, stations=cfg.exclude_bench_stations)
        drop = np.zeros(len(df), dtype=bool)
        for reason, m in masks.items():
            if (m & ~drop).any():
                drops[reason] = int((m & ~drop).sum())
            drop |= m
        df = df[~drop]
        notes["exclude_bench"] = {"bench": cfg.exclude_bench, "stations": cfg.exclude_bench_stations,
                                  "bench_traces": int(len(bench))}
    df, split_info = assign_splits(df, cfg.split, drops)
    df, reb = rebalance(df, cfg.rebalance, drops)
    split_info["rows_per_split"] = {k: int(v) for k, v in df["split"].value_counts().sort_index().items()}
    df = df.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)[MANIFEST_COLUMNS]
    report = {
        "format_version": FORMAT_VERSION,
        "datasets": stats,
        "rows_in": int(sum(s["traces"] for s in stats.values())),
        "rows_out": int(len(df)),
        "dropped": dict(sorted(drops.items())),
        "dropped_total": int(sum(drops.values())),
        "counts_before": before,
        "counts_after": bin_table(df),
        "qc": qc,
        "split": split_info,
        "rebalance": reb,
        "features": feature_counts(df, waveform_features is not None),
        "config": to_dict(cfg),
        **notes,
    }
    return df, report


def drop_flagged(df: pd.DataFrame, flags_path: str | Path, drops: dict[str, int]) -> tuple[pd.DataFrame, dict]:
    """Drop manifest rows flagged by ``clean-labels`` (matched by key, never by row index)."""
    flags = pd.read_parquet(flags_path)
    missing = [c for c in (*KEY_COLUMNS, "reason") if c not in flags.columns]
    if missing:
        raise DataError(f"{flags_path}: not a clean-labels flags file (missing {missing})")
    flags["chunk"] = flags["chunk"].fillna("").astype(str)
    first = flags.sort_values(KEY_COLUMNS + ["reason"]).drop_duplicates(KEY_COLUMNS)
    reason = manifest_key(df).map(dict(zip(manifest_key(first), first["reason"])))
    hit = reason.notna().to_numpy()
    for r, c in reason[hit].value_counts().items():
        drops[f"label_flag_{r}"] = drops.get(f"label_flag_{r}", 0) + int(c)
    matched = int(hit.sum())
    return df[~hit], {"file": str(flags_path), "flagged_traces": int(len(first)), "matched": matched,
                      "not_in_manifest": int(len(first) - matched)}
