"""Settings of an association run and each associator's documented defaults.

A config file (``--config``, YAML) may set any of::

    chunk_s: 3600          # length of a time chunk's core (s)
    overlap_s: null        # picks read beyond each core edge (s); null: 1.2 x the largest S travel time
                           # across the region + 10 s, so an event owned by a chunk has all its picks
    margin_km: 30          # search region: the stations' bounding box + this margin
    zlim_km: [0, 30]       # search depths (km)
    tolerance_s: 1.5       # travel-time tolerance of the velocity model (PyOcto), max sigma (GaMMA)
    pyocto: {...}          # keyword arguments of pyocto.OctoAssociator (override PYOCTO_DEFAULTS)
    gamma: {...}           # keys of GaMMA's config dict (override GAMMA_DEFAULTS)

Unknown top-level keys are errors. The pick minima (4 picks, >= 3 S, no P required) were chosen on a
development network (``data synth --network --stations 10 --hours 4 --seed 1``), not on the network the
experiment scores: every visible event there (>= 4 stations above the noise) has >= 3 S arrivals above
the noise, while P is often below it (S is 3-5 times P, and is seen on two components).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seisforge.data.velocity import VelocityModel
from seisforge.errors import ConfigError

#: pyocto.OctoAssociator keyword defaults (PyOcto's own need 10 picks with 3 P: too many for 10 stations,
#: where S is often the only phase above the noise)
PYOCTO_DEFAULTS: dict[str, Any] = {
    "n_picks": 4, "n_p_picks": 0, "n_s_picks": 3, "n_p_and_s_picks": 0,
    "min_node_size": 10.0, "min_node_size_location": 1.5, "pick_match_tolerance": 1.5,
    "min_interevent_time": 3.0, "time_slicing": 1200.0, "n_threads": 1,
}
#: GaMMA config defaults (BGMM, DBSCAN pre-clustering, no amplitudes); bounds/velocities are added per run
GAMMA_DEFAULTS: dict[str, Any] = {
    "method": "BGMM", "oversample_factor": 5, "use_dbscan": True, "use_amplitude": False,
    "dbscan_eps": None,  # None: GaMMA's estimate_eps(stations, vp)
    "dbscan_min_samples": 3, "min_picks_per_eq": 4, "min_p_picks_per_eq": 0, "min_s_picks_per_eq": 3,
    "max_sigma11": 1.5, "ncpu": 1, "eikonal_h_km": 1.0,
}
TOP_KEYS = {"chunk_s", "overlap_s", "margin_km", "zlim_km", "tolerance_s", "pyocto", "gamma"}


@dataclass
class AssociateSettings:
    """Everything that determines a run's catalog (``identity`` guards resumes)."""

    method: str
    velocity: VelocityModel
    chunk_s: float = 3600.0
    overlap_s: float | None = None
    margin_km: float = 30.0
    zlim_km: tuple[float, float] = (0.0, 30.0)
    tolerance_s: float = 1.5
    pyocto: dict[str, Any] = field(default_factory=dict)
    gamma: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None  # set to 1 on Ray workers (deploy.scale)

    def __post_init__(self) -> None:
        if self.method not in ("pyocto", "gamma"):
            raise ConfigError(f"--method must be pyocto or gamma, not {self.method!r}")
        if self.chunk_s <= 0 or (self.overlap_s is not None and self.overlap_s < 0):
            raise ConfigError("chunk_s must be > 0 and overlap_s >= 0")
        self.pyocto = {**PYOCTO_DEFAULTS, **self.pyocto}
        self.gamma = {**GAMMA_DEFAULTS, **self.gamma}

    def identity(self) -> dict[str, Any]:
        """JSON-able settings (without ``threads``), recorded in run.json."""
        d = asdict(self)
        d.pop("threads")
        d["velocity"] = self.velocity.to_dict()
        return json.loads(json.dumps(d))

    def digest(self) -> str:
        """Short hash of :meth:`identity`."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:12]


def load_settings(method: str, velocity: VelocityModel, config: str | Path | None) -> AssociateSettings:
    """Settings from an optional YAML config file (keys in the module docstring)."""
    raw: dict[str, Any] = {}
    if config:
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"config not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from err
        if not isinstance(raw, dict) or set(raw) - TOP_KEYS:
            raise ConfigError(f"{path}: unknown keys {sorted(set(raw) - TOP_KEYS) if isinstance(raw, dict) else raw}")
    if "zlim_km" in raw:
        raw["zlim_km"] = tuple(float(z) for z in raw["zlim_km"])
    return AssociateSettings(method=method, velocity=velocity, **raw)
