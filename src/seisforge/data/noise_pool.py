"""Noise pool for additive-noise augmentation (``seisforge data noise-pool``).

Candidate windows of ``window_s`` seconds come from

- ``noise_trace``: noise-category manifest traces, tiled from the start (at most ``windows_per_trace``);
- ``pre_p`` (optional): the window ending ``pre_p_margin_s`` before the first labelled pick of an event
  trace, when the trace has that much lead-in (otherwise counted as ``pre_p_too_short``).

Each window is screened with a picker (:class:`~seisforge.data.screening.TraceScreener`, run on the whole
trace so windows see their context): it is **rejected** when its maximum P or S probability exceeds
``threshold``. ``NOISE.parquet`` lists the kept windows (``dataset, chunk, trace_name, source,
start_sample, end_sample, sampling_rate, p_max, s_max``; samples at the trace's native rate); the report
counts kept and rejected windows per dataset and source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.data.screening import TraceScreener, batched, iter_manifest_waveforms

POOL_COLUMNS = ["dataset", "chunk", "trace_name", "source", "start_sample", "end_sample", "sampling_rate",
                "p_max", "s_max"]


@dataclass
class NoisePoolConfig:
    """``seisforge data noise-pool CONFIG.yaml``; paths are relative to the config file's folder."""

    manifest: str
    datasets: dict[str, str] = field(default_factory=dict)
    splits: list[str] = field(default_factory=lambda: ["train"])
    window_s: float = 30.0
    windows_per_trace: int = 2
    pre_p: bool = True
    pre_p_margin_s: float = 1.0
    threshold: float = 0.2


def candidate_windows(row: dict, n_native: int, cfg: NoisePoolConfig) -> tuple[list[tuple[str, int, int]], str | None]:
    """Candidate ``(source, start, end)`` windows (native samples) of one manifest row, or a skip reason."""
    fs = float(row["sampling_rate"])
    w = int(round(cfg.window_s * fs))
    if row["category"] == "noise":
        wins = [("noise_trace", i * w, (i + 1) * w) for i in range(min(cfg.windows_per_trace, n_native // w))]
        return wins, None if wins else "noise_trace_too_short"
    if not cfg.pre_p:
        return [], None
    first = np.nanmin([row["p_sample"], row["s_sample"]]) if np.isfinite([row["p_sample"], row["s_sample"]]).any() else np.nan
    if not np.isfinite(first):
        return [], "pre_p_no_pick"
    end = int(first - cfg.pre_p_margin_s * fs)
    if end < w:
        return [], "pre_p_too_short"
    return [("pre_p", end - w, end)], None


def build_noise_pool(manifest: pd.DataFrame, datasets: dict, screener: TraceScreener,
                     cfg: NoisePoolConfig) -> tuple[pd.DataFrame, dict]:
    """Screen candidate windows; return the kept windows and the kept/rejected counts per source."""
    rows = manifest[manifest["split"].isin(cfg.splits)] if cfg.splits else manifest
    rows = rows[np.isfinite(rows["sampling_rate"].to_numpy(dtype=float))]
    kept, counts, missing, skips = [], {}, [], {}

    def candidates():
        for row, wave, _ in iter_manifest_waveforms(rows, datasets, desc="noise-pool", missing=missing):
            scale = screener.sampling_rate / float(row["sampling_rate"])
            wins, why = candidate_windows(row, int(wave.shape[-1] / scale), cfg)
            if why:
                skips[why] = skips.get(why, 0) + 1
            if wins:
                yield row, wave, wins, scale

    for chunk in batched(candidates(), 32):
        curves = screener.curves_many([wave for _, wave, _, _ in chunk])
        for (row, _, wins, scale), (p, s) in zip(chunk, curves):
            for source, a, b in wins:
                lo, hi = int(a * scale), max(int(b * scale), int(a * scale) + 1)
                pm, sm = float(p[lo:hi].max()), float(s[lo:hi].max())
                c = counts.setdefault(row["dataset"], {}).setdefault(source, {"kept": 0, "rejected": 0})
                if max(pm, sm) > cfg.threshold:
                    c["rejected"] += 1
                    continue
                c["kept"] += 1
                kept.append({"dataset": row["dataset"], "chunk": row["chunk"], "trace_name": row["trace_name"],
                             "source": source, "start_sample": a, "end_sample": b,
                             "sampling_rate": float(row["sampling_rate"]), "p_max": pm, "s_max": sm})
    pool = pd.DataFrame(kept, columns=POOL_COLUMNS).sort_values(
        ["dataset", "chunk", "trace_name", "start_sample"], kind="stable").reset_index(drop=True)
    report = {"model": screener.name, "config": cfg.__dict__, "counts": counts, "skipped": skips,
              "windows_kept": int(len(pool)), "missing": {"count": len(missing), "examples": missing[:20]}}
    return pool, report


def write_table(df: pd.DataFrame, report: dict, out: str | Path, provenance: dict | None = None) -> dict[str, Path]:
    """Write ``out`` (.parquet, with ``provenance`` in its key-value metadata under ``seisforge``),
    ``.sha256`` and ``.report.json`` next to it."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from seisforge.data.manifest_io import manifest_paths
    from seisforge.runinfo import environment, sha256_file, write_json

    paths = manifest_paths(out)
    paths["parquet"].parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"seisforge"] = json.dumps(provenance or {}, sort_keys=True, default=str).encode()
    pq.write_table(table.replace_schema_metadata(meta), paths["parquet"])
    digest = sha256_file(paths["parquet"])
    paths["sha256"].write_text(f"{digest}  {paths['parquet'].name}\n")
    write_json({**report, "output": str(paths["parquet"]), "sha256": digest, "environment": environment()},
               paths["report_json"])
    return paths


class NoisePool:
    """Draw additive noise for augmentation from a ``NOISE.parquet`` pool.

    Parameters
    ----------
    path
        The pool written by ``seisforge data noise-pool``.
    sampling_rate, component_order
        How windows are returned (SeisBench resamples on load).
    overrides
        ``{dataset: path}`` replacing the sources recorded in the pool.

    Examples
    --------
    >>> pool = NoisePool("noise.parquet", sampling_rate=100.0)          # doctest: +SKIP
    >>> noise = pool.sample(np.random.default_rng(0), length=3001)     # (3, 3001) float32
    """

    def __init__(self, path: str | Path, sampling_rate: float | None = None, component_order: str = "ZNE",
                 overrides: dict[str, str] | None = None):
        import json

        import pyarrow.parquet as pq

        from seisforge.data.screening import open_manifest_datasets
        from seisforge.errors import DataError

        table = pq.read_table(path)
        self.windows = table.to_pandas()
        missing = [c for c in POOL_COLUMNS if c not in self.windows.columns]
        if missing:
            raise DataError(f"{path}: not a noise pool (missing {missing})")
        if self.windows.empty:
            raise DataError(f"{path}: the noise pool is empty")
        self.windows["chunk"] = self.windows["chunk"].fillna("").astype(str)
        prov = json.loads((table.schema.metadata or {}).get(b"seisforge", b"{}"))
        self.sampling_rate = sampling_rate
        self.datasets = open_manifest_datasets(self.windows, prov, overrides, sampling_rate=sampling_rate,
                                               component_order=component_order)

    def __len__(self) -> int:
        return len(self.windows)

    def window(self, i: int) -> np.ndarray:
        """Window ``i`` as (C, T) float32 at the requested sampling rate."""
        row = self.windows.iloc[i]
        ds = self.datasets[row["dataset"]]
        wave = ds.get_waveforms(ds.get_idx_from_trace_name(row["trace_name"], chunk=row["chunk"]))
        scale = (self.sampling_rate or row["sampling_rate"]) / row["sampling_rate"]
        return np.asarray(wave[:, int(row["start_sample"] * scale):int(row["end_sample"] * scale)], dtype=np.float32)

    def sample(self, rng: np.random.Generator, length: int) -> np.ndarray:
        """A random window, randomly cropped (or tiled, when shorter) to ``length`` samples."""
        w = self.window(int(rng.integers(len(self))))
        if w.shape[-1] < length:
            w = np.tile(w, (1, int(np.ceil(length / max(w.shape[-1], 1)))))
        start = int(rng.integers(w.shape[-1] - length + 1))
        return w[:, start:start + length]
