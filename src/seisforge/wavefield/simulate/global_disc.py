"""Global dataset: 2-D acoustic wave equation on an Earth cross-section (a disc).

``u_tt = v(r)^2 (u_xx + u_yy) + s(t) g(x - x_s)`` on a Cartesian grid, leapfrog in time, 4th-order
Laplacian in space, advanced by the shared driver :func:`.stepping.leapfrog`. ``v(r)`` is a
piecewise-linear, PREM-like P-wave profile (inner core, outer core, lower and upper mantle, crust).
Outside the disc ``u = 0`` (a pressure-release surface), so the sensors sit ``sensor_depth_cells``
cells below the surface, evenly spaced in angle, and read ``u`` by bilinear interpolation. The E11/E12
parameter is the source depth in km.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from seisforge.errors import ConfigError
from seisforge.wavefield.simulate.common import Family, sized
from seisforge.wavefield.simulate.stepping import WaveSimulator

EARTH_RADIUS_KM = 6371.0
# (radius km, velocity km/s) knots of a simplified PREM P-wave profile, centre to surface.
PREM_P = (
    (0.0, 11.26), (1221.5, 11.03), (1221.6, 10.36), (3480.0, 8.06), (3480.1, 13.72),
    (5701.0, 10.75), (5971.0, 9.13), (6151.0, 8.11), (6346.6, 8.11), (6346.7, 6.8), (6371.0, 5.8),
)


@dataclass
class GlobalConfig:
    """Parameters of the global simulator (``None`` values come from the size)."""

    size: str = "small"
    sensors: int | None = None
    grid: int | None = None
    courant: float = 0.45
    dt: float | None = None
    record_every: int = 2
    f0_points_per_wavelength: float = 10.0
    sensor_depth_cells: float = 2.0
    base_depth_km: float = 300.0
    depths_km: tuple[float, float, float] = (100.0, 300.0, 500.0)
    interp_depth_km: float = 200.0
    extrap_depth_km: float = 700.0
    noise_medium: float = 0.2
    noise_high: float = 0.5


SIZES = {"tiny": (64, 64), "small": (256, 112), "paper": (2048, 512)}  # (sensors, grid)


def prem_velocity(r_km: np.ndarray) -> np.ndarray:
    """PREM-like P velocity (km/s) at radius ``r_km``; 0 outside the Earth."""
    knots = np.array(PREM_P)
    v = np.interp(r_km, knots[:, 0], knots[:, 1])
    return np.where(r_km <= EARTH_RADIUS_KM, v, 0.0)


class GlobalSimulator(WaveSimulator):
    """Runs one global simulation per (source depth, variant) through the shared :func:`.stepping.leapfrog`."""

    name = "global"

    def __init__(self, cfg: GlobalConfig, seed: int) -> None:
        s_def, g_def = sized(SIZES, cfg.size)
        self.cfg = cfg
        self.sensors = cfg.sensors or s_def
        n = cfg.grid or g_def
        half = EARTH_RADIUS_KM * 1.02
        self.dx = 2.0 * half / n
        x = -half + (np.arange(n) + 0.5) * self.dx
        xx, yy = np.meshgrid(x, x, indexing="ij")
        r = np.hypot(xx, yy)
        self.mask = r <= EARTH_RADIUS_KM
        self.v = prem_velocity(r)
        self.set_time_step(float(self.v[self.mask].min()))
        self.n, self.x0 = n, -half + 0.5 * self.dx
        rs = EARTH_RADIUS_KM - cfg.sensor_depth_cells * self.dx
        th = 2 * np.pi * np.arange(self.sensors) / self.sensors
        self._interp = self._bilinear(rs * np.cos(th), rs * np.sin(th))
        self.rng_seed = seed
        self.channels = self.sensors
        self.family = Family(cfg.base_depth_km, tuple(cfg.depths_km), cfg.interp_depth_km, cfg.extrap_depth_km)

    def _bilinear(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, ...]:
        fx, fy = (px - self.x0) / self.dx, (py - self.x0) / self.dx
        ix, iy = np.floor(fx).astype(int), np.floor(fy).astype(int)
        wx, wy = fx - ix, fy - iy
        return ix, iy, wx, wy

    def source(self, depth_km: float, variant: int) -> np.ndarray:
        """Gaussian point source at ``depth_km`` below a random azimuth (set by ``variant``)."""
        if not 0 < depth_km < EARTH_RADIUS_KM - 2 * self.dx:
            raise ConfigError(f"global: source depth {depth_km} km is outside the Earth model")
        rng = np.random.default_rng([self.rng_seed, variant])
        az = rng.uniform(0, 2 * np.pi)
        rsrc = EARTH_RADIUS_KM - depth_km
        sx, sy = rsrc * math.cos(az), rsrc * math.sin(az)
        x = self.x0 + np.arange(self.n) * self.dx
        xx, yy = np.meshgrid(x, x, indexing="ij")
        width = 1.5 * self.dx
        g = np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * width**2)) * self.mask
        g /= g.sum()
        return g

    def absorb(self, u_new: np.ndarray, u_core: np.ndarray) -> None:
        """Pressure-release surface: ``u = 0`` outside the disc (``u_core`` is already zero there)."""
        u_new *= self.mask

    def record(self, u: np.ndarray) -> np.ndarray:
        """``u`` at the sensors by bilinear interpolation."""
        u = u[2:-2, 2:-2]
        ix, iy, wx, wy = self._interp
        return (
            u[ix, iy] * (1 - wx) * (1 - wy) + u[ix + 1, iy] * wx * (1 - wy)
            + u[ix, iy + 1] * (1 - wx) * wy + u[ix + 1, iy + 1] * wx * wy
        )

    def provenance(self) -> dict[str, Any]:
        """Grid, steps, wavelet, the sensor count and the parameter."""
        return {**super().provenance(), "sensors": self.sensors, "parameter": "source depth (km)"}
