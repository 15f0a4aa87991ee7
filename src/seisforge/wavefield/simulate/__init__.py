"""Simulated CTF wavefield datasets (global, das, crustal) written in the official layout.

Use :func:`simulate` (``seisforge ctf simulate``). Each simulator has a config dataclass; every field
can be overridden with ``--set key=value``. See :mod:`.common` for how trajectories become pairs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from seisforge.config import apply_overrides, from_dict, to_dict
from seisforge.errors import ConfigError
from seisforge.wavefield.layout import write_ctf_dataset
from seisforge.wavefield.simulate.common import eval_params
from seisforge.wavefield.simulate.crustal import CrustalConfig, simulate_crustal
from seisforge.wavefield.simulate.das import DasConfig, simulate_das
from seisforge.wavefield.simulate.global_disc import GlobalConfig, simulate_global

SIMULATORS: dict[str, tuple[type, Any]] = {
    "global": (GlobalConfig, simulate_global),
    "das": (DasConfig, simulate_das),
    "crustal": (CrustalConfig, simulate_crustal),
}


def make_config(kind: str, size: str = "small", overrides: list[str] | None = None):
    """Typed simulator config for ``kind`` at ``size`` with ``key=value`` overrides."""
    if kind not in SIMULATORS:
        raise ConfigError(f"unknown simulator {kind!r}; use one of {sorted(SIMULATORS)}")
    cls, _ = SIMULATORS[kind]
    data = apply_overrides({"size": size}, overrides)
    return from_dict(cls, data, where=f"{kind} simulator")


def simulate(
    kind: str, out: str | Path, size: str = "small", seed: int = 0, overrides: list[str] | None = None,
    ext: str = "npz", progress=None,
) -> dict[str, Any]:
    """Simulate dataset ``kind`` into ``out`` and return its provenance (also stored in the yaml).

    Raises
    ------
    ConfigError
        Unknown simulator/size/key, or a violated CFL / sampling condition.
    """
    cfg = make_config(kind, size, overrides)
    _, fn = SIMULATORS[kind]
    t0 = time.perf_counter()
    mats, delta_t, info = fn(cfg, seed, progress)
    elapsed = time.perf_counter() - t0
    space = next(iter(mats.values()))[0].shape[1]
    info.update({"simulator": kind, "seed": seed, "config": to_dict(cfg), "elapsed_s": round(elapsed, 3)})
    name = f"{kind}_{cfg.size}"
    write_ctf_dataset(out, name, mats, delta_t, eval_params(space), extra={"simulation": info}, ext=ext)
    return info


__all__ = ["SIMULATORS", "make_config", "simulate"]
