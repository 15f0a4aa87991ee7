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
