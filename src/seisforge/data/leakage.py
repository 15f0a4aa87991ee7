"""Leakage audit between a training manifest and a benchmark (targets folder or manifest).

Overlaps are counted at three levels:

- **traces**: the same key ``dataset|chunk|trace_name``;
- **events**: the same event key (``source_id``, or the manifest's documented fallback) - a benchmark
  event seen at another station in training is still leakage;
- **stations**: the same ``NET.STA[.LOC]`` (reported, not an error: station overlap is often intended).

Trace or event overlap makes the audit fail (:class:`~seisforge.errors.LeakageError`, exit code 3).
Training calls :func:`enforce_no_leakage`; benchmark code labels results with :func:`domain_label`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.data.manifest_columns import manifest_columns
from seisforge.data.manifest_io import read_manifest
from seisforge.data.targets_io import load_targets
from seisforge.errors import DataError, LeakageError

MAX_EXAMPLES = 20


def _key(df: pd.DataFrame) -> pd.Series:
    return df["dataset"].astype(str) + "|" + df["chunk"].fillna("").astype(str) + "|" + df["trace_name"].astype(str)


def load_bench(path: str | Path, bench_dataset: str | Path | None = None,
               bench_splits: list[str] | None = None) -> pd.DataFrame:
    """Benchmark traces as a frame with ``dataset, chunk, trace_name, event_key, station_key``.

    Parameters
    ----------
    path
        A benchmark targets folder (``task1.csv``/``task23.csv``) or a manifest Parquet file.
    bench_dataset
        For a targets folder: the SeisBench dataset the targets refer to. Its metadata supplies station
        keys and the event-key fallback for traces without ``source_id``; without it station overlap is
        reported as unavailable (``station_key`` is ``""``).
    """
    path = Path(path)
    if path.is_file():
        return read_manifest(path)[["dataset", "chunk", "trace_name", "event_key", "station_key"]]
    if not path.is_dir():
        raise DataError(f"benchmark not found: {path} (give a targets folder or a manifest .parquet)")
    tables = load_targets(path)
    if bench_splits is not None:
        tables = {k: t[t["trace_split"].isin(bench_splits)] for k, t in tables.items()}
    rows = pd.concat([t[[c for c in ("trace_dataset", "trace_chunk", "trace_name", "source_id") if c in t]]
                      for t in tables.values()], ignore_index=True)
    if len(rows) and ("trace_dataset" not in rows or rows["trace_dataset"].isna().all()):
        if bench_dataset is None:
            raise DataError(f"{path}: targets have no trace_dataset column; pass the benchmark dataset")
        from seisforge.data.sources import dataset_name

        rows["trace_dataset"] = dataset_name(bench_dataset)
    bench = pd.DataFrame({
        "dataset": rows["trace_dataset"].astype(str),
        "chunk": rows["trace_chunk"].fillna("").astype(str) if "trace_chunk" in rows else "",
        "trace_name": rows["trace_name"].astype(str),
        "event_key": rows["source_id"].fillna("").astype(str).replace("nan", "") if "source_id" in rows else "",
        "station_key": "",
    }).drop_duplicates(["dataset", "chunk", "trace_name"])
    if bench_dataset is not None:
        from seisforge.data.sources import open_dataset

        ds = open_dataset(bench_dataset)
        cols, _ = manifest_columns(ds.metadata, str(ds.metadata["trace_dataset"].iloc[0]) if len(ds.metadata) else "")
        look = cols.set_index(["chunk", "trace_name"])
        idx = pd.MultiIndex.from_arrays([bench["chunk"], bench["trace_name"]])
        found = idx.isin(look.index)
        if (~found).any():
            raise DataError(f"{int((~found).sum())} target traces not in {bench_dataset}, e.g. "
                            f"{list(bench['trace_name'][~found].iloc[:3])}")
        bench["station_key"] = look.loc[idx, "station_key"].to_numpy()
        fallback = look.loc[idx, "event_key"].to_numpy()
        bench["event_key"] = np.where(bench["event_key"].to_numpy() == "", fallback, bench["event_key"])
    bench.attrs["stations_available"] = bench_dataset is not None
    return bench


def _nonblank(s: pd.Series) -> pd.Series:
    s = s.fillna("").astype(str)
    return s[(s != "") & (s != "nan")]


def check_leakage(
    manifest_df: pd.DataFrame,
    bench_path: str | Path,
    bench_dataset: str | Path | None = None,
    splits: list[str] | None = None,
    bench_splits: list[str] | None = None,
) -> dict:
    """Compare a manifest with a benchmark and return the overlap report.

    Parameters
    ----------
    manifest_df
        Manifest rows (``dataset, chunk, trace_name, event_key, station_key, split``).
    bench_path
        Benchmark targets folder or manifest Parquet.
    bench_dataset
        Dataset of a targets folder, for station keys and the event-key fallback (optional).
    splits
        Only audit manifest rows in these splits (default: all rows).
    bench_splits
        Only audit benchmark target rows of these ``trace_split`` values (targets folders only).

    Returns
    -------
    dict
        ``overlap`` (bool: any trace or event overlap), ``domain`` (``"in-domain"`` when overlapping,
        else ``"cross-domain"``), ``traces``/``events``/``stations`` (each ``count``, ``manifest_rows``
        affected and ``examples``; stations also ``available``), ``bench``, ``rows_checked``.
    """
    bench = load_bench(bench_path, bench_dataset, bench_splits)
    m = manifest_df if splits is None else manifest_df[manifest_df["split"].isin(splits)]
    mkey, bkey = _key(m), set(_key(bench))
    t_hit = mkey.isin(bkey).to_numpy()
    bev = set(_nonblank(bench["event_key"]))
    ev = m["event_key"].fillna("").astype(str)
    e_hit = (ev.isin(bev) & (ev != "")).to_numpy()
    bst = set(_nonblank(bench["station_key"]))
    st = m["station_key"].fillna("").astype(str)
    s_hit = (st.isin(bst) & (st != "")).to_numpy()

    def part(hit: np.ndarray, values: pd.Series) -> dict:
        uniq = sorted(pd.unique(values[hit]).astype(str))
        return {"count": len(uniq), "manifest_rows": int(hit.sum()), "examples": uniq[:MAX_EXAMPLES]}

    stations_available = bool(bench.attrs.get("stations_available", True)) and bool(len(bst))
    report = {
        "bench": str(bench_path),
        "bench_dataset": str(bench_dataset) if bench_dataset else None,
        "bench_traces": int(len(bench)),
        "rows_checked": int(len(m)),
        "splits_checked": splits or "all",
        "traces": part(t_hit, mkey),
        "events": part(e_hit, ev),
        "stations": {**part(s_hit, st), "available": stations_available},
    }
    report["overlap"] = bool(t_hit.any() or e_hit.any())
    report["domain"] = domain_label(report)
    return report


def domain_label(report: dict) -> str:
    """``"in-domain"`` when the audit found trace or event overlap, else ``"cross-domain"``."""
    return "in-domain" if report.get("overlap") else "cross-domain"


def enforce_no_leakage(
    manifest_df: pd.DataFrame,
    bench_path: str | Path,
    allow_overlap: bool = False,
    bench_dataset: str | Path | None = None,
) -> dict:
    """Refuse a manifest that overlaps the declared benchmark unless ``allow_overlap``.

    Returns the :func:`check_leakage` report with ``override`` (True when overlap was allowed): record it
    in the run metadata. Raises :class:`LeakageError` (exit code 3) on overlap without override.
    """
    report = check_leakage(manifest_df, bench_path, bench_dataset)
    report["override"] = bool(allow_overlap and report["overlap"])
    if report["overlap"] and not allow_overlap:
        raise LeakageError(
            f"training manifest overlaps benchmark {bench_path}: {report['traces']['count']} trace(s), "
            f"{report['events']['count']} event(s) (e.g. {report['events']['examples'][:3]}); "
            "pass the explicit override to train anyway (results are then 'in-domain')"
        )
    return report


def exclusion_mask(manifest_df: pd.DataFrame, bench: pd.DataFrame, stations: bool = False) -> dict[str, np.ndarray]:
    """Masks of manifest rows to drop for ``--exclude-bench``: same trace, same event, same station."""
    out = {
        "exclude_bench_trace": _key(manifest_df).isin(set(_key(bench))).to_numpy(),
    }
    ev = manifest_df["event_key"].fillna("").astype(str)
    out["exclude_bench_event"] = (ev.isin(set(_nonblank(bench["event_key"]))) & (ev != "")).to_numpy()
    if stations:
        if not bench.attrs.get("stations_available", True):
            raise DataError("--exclude-bench-stations needs station keys: give the benchmark dataset too "
                            "(--bench-dataset) or a benchmark manifest")
        st = manifest_df["station_key"].fillna("").astype(str)
        out["exclude_bench_station"] = (st.isin(set(_nonblank(bench["station_key"]))) & (st != "")).to_numpy()
    return out


def leakage_markdown(report: dict) -> str:
    """Short Markdown rendering of a :func:`check_leakage` report."""
    lines = [f"# Leakage audit: {'OVERLAP' if report['overlap'] else 'clean'} ({report['domain']})", "",
             f"- benchmark: `{report['bench']}` ({report['bench_traces']} traces)",
             f"- manifest rows checked: {report['rows_checked']} (splits: {report['splits_checked']})", ""]
    for level in ("traces", "events", "stations"):
        r = report[level]
        extra = "" if level != "stations" or r["available"] else " (station keys unavailable)"
        lines.append(f"- {level}: {r['count']} overlapping, {r['manifest_rows']} manifest rows{extra}; "
                     f"e.g. {r['examples'][:5]}")
    return "\n".join(lines) + "\n"
