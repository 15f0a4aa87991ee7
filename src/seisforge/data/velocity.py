"""Velocity models shared by the network synthetics and the associators (one file format).

A velocity-model file is YAML (JSON is valid YAML) with one of two kinds::

    kind: homogeneous          # constant velocities
    vp: 6.0                    # km/s
    vs: 3.47                   # km/s

    kind: layered              # 1-D: velocities at depth nodes, linear in between,
    depth_km: [0.0, 100.0]     # constant below the last node (PyOcto's and GaMMA's reading)
    vp: [5.5, 8.0]
    vs: [3.18, 4.62]

Depths are below sea level, increasing; velocities positive. Anything else raises a
:class:`~seisforge.errors.ConfigError` that names the file and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from seisforge.errors import ConfigError


@dataclass(frozen=True)
class VelocityModel:
    """A homogeneous (one node) or 1-D layered velocity model."""

    kind: str
    depth_km: tuple[float, ...]
    vp: tuple[float, ...]
    vs: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.kind not in ("homogeneous", "layered"):
            raise ConfigError(f"velocity model kind must be homogeneous or layered, not {self.kind!r}")
        n = len(self.depth_km)
        if n == 0 or len(self.vp) != n or len(self.vs) != n:
            raise ConfigError("velocity model: depth_km, vp and vs need the same, non-zero length")
        if self.kind == "homogeneous" and n != 1:
            raise ConfigError("a homogeneous velocity model has one vp and one vs")
        if any(b <= a for a, b in zip(self.depth_km, self.depth_km[1:])):
            raise ConfigError(f"velocity model depths must increase: {self.depth_km}")
        if min(self.vp) <= 0 or min(self.vs) <= 0 or any(s >= p for p, s in zip(self.vp, self.vs)):
            raise ConfigError("velocity model: need 0 < vs < vp everywhere")

    @classmethod
    def homogeneous(cls, vp: float, vs: float) -> VelocityModel:
        """A constant-velocity model."""
        return cls("homogeneous", (0.0,), (float(vp),), (float(vs),))

    def at(self, depth_km) -> tuple[np.ndarray, np.ndarray]:
        """``(vp, vs)`` at ``depth_km`` (linear between nodes, constant outside)."""
        z = np.asarray(depth_km, dtype=float)
        return (np.interp(z, self.depth_km, self.vp), np.interp(z, self.depth_km, self.vs))

    def to_dict(self) -> dict:
        """The file form (see the module docstring)."""
        if self.kind == "homogeneous":
            return {"kind": "homogeneous", "vp": self.vp[0], "vs": self.vs[0]}
        return {"kind": "layered", "depth_km": list(self.depth_km), "vp": list(self.vp), "vs": list(self.vs)}

    def write(self, path: str | Path) -> Path:
        """Write the model as YAML."""
        path = Path(path)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


def _floats(raw: dict, key: str, where: str) -> tuple[float, ...]:
    value = raw.get(key)
    if value is None:
        raise ConfigError(f"{where}: missing {key!r}")
    items = value if isinstance(value, list) else [value]
    try:
        return tuple(float(v) for v in items)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {key!r} must be numbers, got {value!r}") from err


def parse_velocity_model(raw: object, where: str = "velocity model") -> VelocityModel:
    """A :class:`VelocityModel` from its file form (a dict)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with 'kind', got {type(raw).__name__}")
    kind = raw.get("kind")
    unknown = set(raw) - {"kind", "vp", "vs", "depth_km"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    try:
        if kind == "homogeneous":
            return VelocityModel.homogeneous(_floats(raw, "vp", where)[0], _floats(raw, "vs", where)[0])
        if kind == "layered":
            return VelocityModel("layered", _floats(raw, "depth_km", where), _floats(raw, "vp", where),
                                 _floats(raw, "vs", where))
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err
    raise ConfigError(f"{where}: 'kind' must be homogeneous or layered, got {kind!r}")


def load_velocity_model(path: str | Path) -> VelocityModel:
    """Read a velocity-model file; a clear :class:`ConfigError` when it does not parse."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"velocity model file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"velocity model {path} is not valid YAML/JSON: {err}") from err
    return parse_velocity_model(raw, where=f"velocity model {path}")
