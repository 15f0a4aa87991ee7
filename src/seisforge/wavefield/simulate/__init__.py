"""Simulated CTF wavefield datasets (global, das, crustal) written in the official layout.

Use :func:`simulate` (``seisforge ctf simulate``). Each simulator has a config dataclass; every field
can be overridden with ``--set key=value``. Each simulator module supplies what differs (grid, velocity
model, source, boundary, recording); :func:`.common.simulate_dataset` assembles the trajectories into
pairs and :func:`.stepping.leapfrog` is the one time-stepping driver of the finite-difference ones.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from seisforge.config import apply_overrides, from_dict, to_dict
from seisforge.errors import ConfigError
from seisforge.wavefield.layout import write_ctf_dataset
from seisforge.wavefield.simulate.common import Simulator, eval_params, simulate_dataset
from seisforge.wavefield.simulate.crustal import CrustalConfig, CrustalSimulator
from seisforge.wavefield.simulate.das import DasConfig, DasSimulator
from seisforge.wavefield.simulate.global_disc import GlobalConfig, GlobalSimulator

#: kind -> (config dataclass, simulator class built as ``cls(config, seed)``).
SIMULATORS: dict[str, tuple[type, type[Simulator]]] = {
    "global": (GlobalConfig, GlobalSimulator),
    "das": (DasConfig, DasSimulator),
    "crustal": (CrustalConfig, CrustalSimulator),
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
    """Simulate dataset ``kind`` into the dataset folder ``out`` and return its provenance (also stored
    in the yaml, and the folder as ``path``).

    The dataset is named after the folder and its yaml is ``out/<out name>.yaml``, as the official
    layout ``data/<name>/<name>.yaml`` requires (``ctf4science.data_module.get_config``).

    Raises
    ------
    ConfigError
        Unknown simulator/size/key, or a violated CFL / sampling condition.
    """
    cfg = make_config(kind, size, overrides)
    _, sim_cls = SIMULATORS[kind]
    t0 = time.perf_counter()
    mats, delta_t, info = simulate_dataset(sim_cls(cfg, seed), cfg, seed, progress)
    elapsed = time.perf_counter() - t0
    space = next(iter(mats.values()))[0].shape[1]
    info.update({"simulator": kind, "seed": seed, "config": to_dict(cfg), "elapsed_s": round(elapsed, 3)})
    out = Path(out)
    write_ctf_dataset(out, out.name, mats, delta_t, eval_params(space), extra={"simulation": info}, ext=ext)
    info["path"] = str(out)
    return info


__all__ = ["SIMULATORS", "make_config", "simulate"]
