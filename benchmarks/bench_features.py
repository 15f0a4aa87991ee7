"""Benchmark: the waveform-feature pass of ``data manifest`` (``features.enabled``), in traces/s.

The metadata features (``ts_minus_tp_s``, ``tectonic_regime``) are part of ``bench_manifest.py``'s
1,000,000-row build. The waveform features need every trace, so they are a separate pass; this script
times (1) the vectorised computation on traces already in memory (3 x 6000 samples, batches of 2048) and
(2) the whole pass over a SeisBench dataset on disk (HDF5 reads included), and prints both rates.

Usage::

    PYTHONPATH=src python benchmarks/bench_features.py [--traces 20000] [--disk-traces 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def cpu_flags() -> str:
    """The SIMD flags of this CPU that matter for numerical code."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    have = set(text.split("flags", 1)[1].split("\n", 1)[0].split()) if "flags" in text else set()
    return " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile", "avx512_vnni") if f in have) or "none"


def _traces(rng, n: int, npts: int = 6000) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    p = rng.uniform(500, 3000, n).round()
    s = p + rng.uniform(100, 2000, n).round()
    t = np.arange(npts)
    waves = []
    for k in range(n):
        x = rng.normal(0, 0.05, (3, npts)).astype(np.float32)
        x[0] += (t >= p[k]) * np.sin(2 * np.pi * 6 * (t - p[k]) / 100)
        waves.append(x)
    return waves, p, s


def run(traces: int = 20000, disk_traces: int = 2000) -> dict:
    from seisforge.data.features import FeatureConfig, dataset_features, waveform_features

    rng = np.random.default_rng(0)
    cfg = FeatureConfig(enabled=True)
    waves, p, s = _traces(rng, min(traces, 2048))
    reps = max(1, traces // len(waves))
    t0 = time.perf_counter()
    for _ in range(reps):
        waveform_features(waves, p, s, np.full(len(waves), 100.0), cfg)
    mem_rate = reps * len(waves) / (time.perf_counter() - t0)
    import seisbench.data as sbd

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ds"
        path.mkdir()
        w, pd_, sd_ = _traces(rng, disk_traces)
        with sbd.WaveformDataWriter(path / "metadata.csv", path / "waveforms.hdf5") as wr:
            wr.data_format = {"dimension_order": "CW", "component_order": "ZNE"}
            for k in range(disk_traces):
                wr.add_trace({"trace_name": f"t{k}", "trace_sampling_rate_hz": 100.0}, w[k])
        ds = sbd.WaveformDataset(path)
        t1 = time.perf_counter()
        dataset_features(ds, pd_, sd_, np.full(disk_traces, 100.0), cfg)
        disk_rate = disk_traces / (time.perf_counter() - t1)
    return {"memory_traces_per_s": mem_rate, "disk_traces_per_s": disk_rate, "memory_traces": reps * len(waves),
            "disk_traces": disk_traces}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=20000)
    parser.add_argument("--disk-traces", type=int, default=2000)
    args = parser.parse_args()
    r = run(args.traces, args.disk_traces)
    print(f"cpu cores: {os.cpu_count()}; cpu flags: {cpu_flags()}")
    print(f"features from memory: {r['memory_traces']} traces, {r['memory_traces_per_s']:.0f} traces/s")
    print(f"features from a SeisBench dataset on disk (reads included): {r['disk_traces']} traces, "
          f"{r['disk_traces_per_s']:.0f} traces/s")
    print(f"1,000,000 traces at the disk rate: {1e6 / r['disk_traces_per_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
