"""Manifest files: reading and writing ``NAME.parquet`` and its side files, and the trace key.

:func:`write_manifest` writes ``NAME.parquet`` (rows sorted by key, provenance in the Parquet key-value
metadata under ``seisforge``), ``NAME.sha256`` and ``NAME.report.json`` + ``NAME.report.md``;
:func:`read_manifest` reads it back with its columns and keys checked. Building a manifest is
:mod:`seisforge.data.manifest`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from seisforge.data.bins import DISTANCE
from seisforge.data.features import missing_feature_columns
from seisforge.data.manifest_columns import KEY_COLUMNS, MANIFEST_COLUMNS
from seisforge.errors import ConfigError, DataError
from seisforge.runinfo import environment, sha256_file, sha256_lines, write_json

FORMAT_VERSION = 1


def manifest_key(df: pd.DataFrame) -> pd.Series:
    """``dataset|chunk|trace_name`` per manifest row."""
    return df["dataset"].astype(str) + "|" + df["chunk"].astype(str) + "|" + df["trace_name"].astype(str)


def manifest_paths(out: str | Path) -> dict[str, Path]:
    """Paths of a manifest and its side files: ``parquet``, ``sha256``, ``report_json``, ``report_md``."""
    out = Path(out)
    if out.suffix != ".parquet":
        raise ConfigError(f"manifest output must end in .parquet, got {out}")
    stem = out.with_suffix("")
    return {"parquet": out, "sha256": Path(f"{stem}.sha256"), "report_json": Path(f"{stem}.report.json"),
            "report_md": Path(f"{stem}.report.md")}


def write_manifest(df: pd.DataFrame, report: dict, out: str | Path) -> dict[str, Path]:
    """Write the Parquet manifest, ``.sha256`` and the JSON + Markdown reports next to it.

    The Parquet bytes are deterministic for the same rows and software versions (no timestamps inside);
    ``.sha256`` holds the file's SHA-256 (``sha256sum`` format) and the content hash of the sorted
    ``key<TAB>split<TAB>weight`` lines, which does not depend on the Parquet writer.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = manifest_paths(out)
    paths["parquet"].parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df[MANIFEST_COLUMNS], preserve_index=False)
    provenance = {"format_version": FORMAT_VERSION,
                  "datasets": {k: v["source"] for k, v in report.get("datasets", {}).items()},
                  "config": report.get("config")}
    meta = dict(table.schema.metadata or {})
    meta[b"seisforge"] = json.dumps(provenance, sort_keys=True, default=str).encode()
    pq.write_table(table.replace_schema_metadata(meta), paths["parquet"])
    content = sha256_lines(list(manifest_key(df) + "\t" + df["split"].astype(str) + "\t"
                                + df["weight"].map("{:.6g}".format)))
    file_hash = sha256_file(paths["parquet"])
    paths["sha256"].write_text(f"{file_hash}  {paths['parquet'].name}\n{content}  content(key,split,weight)\n")
    report = {**report, "manifest": str(paths["parquet"]), "sha256": file_hash, "content_sha256": content,
              "environment": environment()}
    write_json(report, paths["report_json"])
    paths["report_md"].write_text(report_markdown(report))
    return paths


def read_manifest(path: str | Path, with_provenance: bool = False):
    """Read a manifest (checks the columns); optionally also its provenance dict."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest not found: {path}")
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for bad files
        raise DataError(f"{path}: not a readable Parquet file ({err})") from err
    df = missing_feature_columns(table.to_pandas())  # manifests written before the feature columns
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: not a seisforge manifest (missing columns {missing})")
    df["chunk"] = df["chunk"].fillna("").astype(str)
    dup = df.duplicated(KEY_COLUMNS)
    if dup.any():
        raise DataError(f"{path}: {int(dup.sum())} duplicate keys (dataset, chunk, trace_name), e.g. "
                        f"{list(manifest_key(df[dup]).iloc[:3])}")
    if not with_provenance:
        return df
    raw = (table.schema.metadata or {}).get(b"seisforge")
    return df, (json.loads(raw) if raw else {})


def report_markdown(r: dict) -> str:
    """Human-readable manifest report."""
    lines = ["# Manifest report", "", f"- manifest: `{r.get('manifest', '')}`",
             f"- sha256: `{r.get('sha256', '')}`", f"- rows: {r['rows_in']} in, {r['rows_out']} out, "
             f"{r['dropped_total']} dropped", ""]
    lines += ["## Datasets", "", "| dataset | source | traces | event key from | category inferred |",
              "|---|---|---|---|---|"]
    for name, s in r["datasets"].items():
        lines.append(f"| {name} | `{s['source']}` | {s['traces']} | {s['event_key_source']} | {s['category_inferred']} |")
    for title, key in (("Counts before (dataset x distance bin)", "counts_before"),
                       ("Counts after (dataset x distance bin)", "counts_after")):
        lines += ["", f"## {title}", "", "| dataset | " + " | ".join(DISTANCE.order) + " |",
                  "|---|" + "---|" * len(DISTANCE.order)]
        for ds, row in r[key].items():
            lines.append(f"| {ds} | " + " | ".join(str(row.get(b, 0)) for b in DISTANCE.order) + " |")
    lines += ["", "## Dropped, by reason", ""]
    lines += [f"- {k}: {v}" for k, v in r["dropped"].items()] or ["- nothing dropped"]
    qc = r["qc"]
    lines += ["", "## QC", "", f"- enabled: {qc['enabled']}; policy: {qc['policy']}"]
    if "flag_counts" in qc:
        lines += [f"- {k}: {v} trace(s) flagged" for k, v in qc["flag_counts"].items()]
    s = r["split"]
    lines += ["", "## Splits", "", f"- by {s['by']}, fractions {s['fractions']}, seed {s['seed']}: {s['rows_per_split']}",
              f"- events in several splits: {s['events_in_several_splits']}"]
    reb = r["rebalance"]
    lines += ["", "## Rebalancing", "", f"- mode: {reb['mode']}; oversampling: {reb['oversampling']}"]
    for axis, rows in reb.get("targets", {}).items():
        lines += ["", f"### {axis}", "", "| bin | target | achieved | within tolerance | reason |", "|---|---|---|---|---|"]
        for b, v in rows.items():
            lines.append(f"| {b} | {v['target']:.3f} | {v['achieved']:.3f} | {v['within_tolerance']} | {v['reason']} |")
    return "\n".join(lines) + "\n"
