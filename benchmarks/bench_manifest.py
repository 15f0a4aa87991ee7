"""Benchmark: build a manifest from 1,000,000 synthetic metadata rows across 5 datasets (goal < 30 s).

Times the vectorised manifest pipeline (columns, event splits, S policy, caps, distance targets, sort)
and writing the Parquet file with its ``.sha256`` and reports. Generating the metadata is timed apart.

Usage::

    PYTHONPATH=src python benchmarks/bench_manifest.py [--rows 1000000] [--datasets 5] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from seisforge.data.manifest import ManifestConfig, manifest_from_metadata
from seisforge.data.manifest_io import write_manifest
from seisforge.data.synthetic import synthetic_metadata


def run(rows: int = 1_000_000, datasets: int = 5, out: Path | None = None) -> dict:
    """Build the benchmark manifest; return timings (seconds) and sizes."""
    t0 = time.perf_counter()
    per = rows // datasets
    metas = [(f"ds{k}", synthetic_metadata(per, f"ds{k}", seed=k, chunks=3), f"synthetic:{k}") for k in range(datasets)]
    t_gen = time.perf_counter() - t0
    cfg = ManifestConfig()
    cfg.split.by = "event"
    cfg.rebalance.mode = "subsample"
    cfg.rebalance.targets = {"distance": {"local": 0.5, "regional": 0.3, "teleseismic": 0.2}}
    cfg.rebalance.caps = {"ds0": per // 2}
    cfg.rebalance.null_teleseismic_s = True
    cfg.rebalance.s_required_in = ["local"]
    t1 = time.perf_counter()
    df, report = manifest_from_metadata(metas, cfg)
    t_build = time.perf_counter() - t1
    with tempfile.TemporaryDirectory() as tmp:
        target = (out or Path(tmp)) / "bench_manifest.parquet"
        t2 = time.perf_counter()
        write_manifest(df, report, target)
        t_write = time.perf_counter() - t2
    return {"rows_in": report["rows_in"], "rows_out": report["rows_out"], "generate_s": t_gen,
            "build_s": t_build, "write_s": t_write, "total_s": t_build + t_write,
            "targets": report["rebalance"]["targets"]["distance"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--datasets", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    r = run(args.rows, args.datasets, args.out)
    print(f"cpu cores: {os.cpu_count()}; rows in {r['rows_in']:,}, out {r['rows_out']:,}")
    print(f"metadata generation: {r['generate_s']:.1f} s (not part of the build)")
    print(f"manifest build: {r['build_s']:.1f} s; write parquet + sha256 + reports: {r['write_s']:.1f} s")
    print(f"TOTAL {r['total_s']:.1f} s (goal < 30 s)")
    for b, v in r["targets"].items():
        print(f"  {b}: target {v['target']:.3f} achieved {v['achieved']:.3f}")


if __name__ == "__main__":
    main()
