"""Tiny pretraining configs and miniSEED folders for the pretraining tests (seeded, CPU, seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import obspy

from seisforge.config import apply_overrides, from_dict
from seisforge.train.pretrain.config import PretrainConfig

#: a tiny patch transformer: 20-sample patches, d_model 16, one block
TINY_ENCODER = {"patch_samples": 20, "d_model": 16, "depth": 1, "n_heads": 2, "mlp_ratio": 2.0}


def tiny_config(root: Path, name: str = "pt", **sections) -> PretrainConfig:
    """A config that pretrains for 2 epochs x 4 steps of 8 windows of 400 samples; ``sections`` override
    whole keys as dotted ``--set`` strings (``{"data.kind": "continuous"}``)."""
    data = {"name": name, "seed": 3, "deterministic": True, "device": "cpu",
            "data": {"kind": "synthetic", "window_samples": 400, "windows_per_epoch": 32, "dev_windows": 8,
                     "windows_per_unit": 8},
            "encoder": {"kind": "patch_transformer", "args": dict(TINY_ENCODER)},
            "objective": {"kind": "mae", "mask_ratio": 0.5, "max_shift": 20, "proj_dim": 8, "mask_span": 20,
                          "decoder_hidden": 8},
            "optim": {"lr": 3e-3, "warmup_steps": 2},
            "train": {"epochs": 2, "batch_size": 8},
            "run": {"root": str(root)}}
    apply_overrides(data, [f"{k}={v}" for k, v in sections.items()])
    return from_dict(PretrainConfig, data)


def write_station(folder: Path, components: str = "ZNE", duration_s: float = 300.0, fs: float = 100.0,
                  station: str = "XX.SYN.00", seed: int = 0, dead: bool = False) -> None:
    """One station-day of miniSEED (one file per channel ``HH<c>``) with synthetic events; ``H`` is a
    hydrophone carrying the vertical's signal over its own noise; ``dead`` writes all-zero channels."""
    from seisforge.testing import continuous_stream

    st, _ = continuous_stream(station, start="2024-03-01T00:00:00", duration_s=duration_s, sampling_rate=fs,
                              n_events=3 if duration_s >= 150 else 0, seed=seed, components=components.replace("H", "")[:3] or "Z")
    if "H" in components:
        z = st.select(component="Z")[0]
        hyd = z.copy()
        hyd.stats.channel = "HHH"
        hyd.data = (z.data + np.random.default_rng(seed).standard_normal(z.stats.npts)).astype(np.float32)
        st.append(hyd)
    folder.mkdir(parents=True, exist_ok=True)
    for tr in st:
        if dead:
            tr.data = np.zeros_like(tr.data)
        obspy.Stream([tr]).write(str(folder / f"{tr.id}.mseed"), format="MSEED", encoding="FLOAT32")
