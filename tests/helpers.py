"""Small builders for test datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_dataset(path: Path, traces: list[tuple[dict, np.ndarray]], component_order: str = "ZNE") -> Path:
    """Write a SeisBench dataset from ``(metadata, waveform (C, T))`` pairs with SeisBench's writer."""
    import seisbench.data as sbd

    path.mkdir(parents=True, exist_ok=True)
    with sbd.WaveformDataWriter(path / "metadata.csv", path / "waveforms.hdf5") as w:
        w.data_format = {"dimension_order": "CW", "component_order": component_order}
        for meta, wave in traces:
            w.add_trace(dict(meta), np.asarray(wave, dtype=np.float32))
    return path


def event_trace(name: str, rng: np.random.Generator, npts: int = 6000, p: float = 2500.0, s: float = 3300.0,
                split: str = "test", sr: float = 100.0, source_id: str | None = None, n_comp: int = 3):
    """A simple trace: noise plus impulsive P (Z) and S (horizontals)."""
    x = rng.normal(0, 0.05, size=(n_comp, npts))
    t = np.arange(npts)
    for onset, comps, amp in ((p, [0], 1.0), (s, [1, 2], 2.0)):
        env = np.where(t >= onset, np.exp(-(t - onset) / (2 * sr)), 0.0)
        for c in comps:
            if c < n_comp:
                x[c] += amp * env * np.sin(2 * np.pi * 5 * (t - onset) / sr)
    meta = {"trace_name": name, "trace_sampling_rate_hz": sr, "trace_p_arrival_sample": p,
            "trace_s_arrival_sample": s, "split": split, "source_id": source_id or f"ev_{name}"}
    return meta, x


def names_by_original(path: Path) -> dict[str, str]:
    """Map the original trace names to the bucket names the SeisBench writer assigned."""
    import pandas as pd

    meta = pd.read_csv(path / "metadata.csv")
    orig = meta["trace_name_original"] if "trace_name_original" in meta else meta["trace_name"]
    return dict(zip(orig.fillna(meta["trace_name"]), meta["trace_name"]))


#: Traces of :func:`edge_target_dataset`: (n_samples, P, S, second P, second S, split). Labels beyond the
#: trace, negative labels, short traces, second events before and after the first event, float onsets.
EDGE_TARGET_TRACES = [
    (6000, 7000.0, 8000.0, np.nan, np.nan, "test"),
    (6000, -50.0, 3500.0, np.nan, np.nan, "test"),
    (200, 3000.0, np.nan, np.nan, np.nan, "test"),
    (2500, 1200.0, 1800.0, np.nan, np.nan, "dev"),
    (6000, 4500.0, 5200.0, 1000.0, 1500.0, "dev"),
    (6000, 3600.0, 4100.0, 4300.0, 4800.0, "dev"),
    (6000, np.nan, np.nan, np.nan, np.nan, "dev"),
    (6000, np.nan, np.nan, 2000.0, 2600.0, "test"),
    (6000, 3050.5, 3500.7, np.nan, np.nan, "test"),
    (4000, 150.0, 3950.0, np.nan, np.nan, "train"),
    (12000, 9000.0, 10000.0, np.nan, np.nan, "dev"),
    (6000, 3000.4, 3055.0, np.nan, np.nan, "dev"),
    (6000, 5990.0, np.nan, np.nan, np.nan, "test"),
    (3000, 2950.0, 6100.0, np.nan, np.nan, "test"),
]


def label_table_dataset(path: Path, rows=None, sampling_rate: float = 100.0, seed: int | None = None) -> Path:
    """A SeisBench dataset from ``(n_samples, P, S, second P, second S, split)`` rows (default
    :data:`EDGE_TARGET_TRACES`); trace ``i`` is named ``lab{i:03d}``. Waveforms are zeros, or white noise
    with ``seed`` (distinct traces, for the manifest's duplicate check)."""
    rng = None if seed is None else np.random.default_rng(seed)
    traces = []
    for i, (npts, p, s, p2, s2, split) in enumerate(EDGE_TARGET_TRACES if rows is None else rows):
        meta = {"trace_name": f"lab{i:03d}", "trace_sampling_rate_hz": sampling_rate, "split": split,
                "source_id": f"ev{i:03d}", "trace_p_arrival_sample": p, "trace_s_arrival_sample": s,
                "trace_p2_arrival_sample": p2, "trace_s2_arrival_sample": s2}
        wave = np.zeros((3, int(npts))) if rng is None else rng.normal(size=(3, int(npts)))
        traces.append((meta, wave.astype(np.float32)))
    return write_dataset(path, traces)
