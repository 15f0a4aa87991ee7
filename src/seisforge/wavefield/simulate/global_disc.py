"""Global dataset: 2-D acoustic wave equation on an Earth cross-section (a disc).

``u_tt = v(r)^2 (u_xx + u_yy) + s(t) g(x - x_s)`` on a Cartesian grid, leapfrog in time, 4th-order
Laplacian in space. ``v(r)`` is a piecewise-linear, PREM-like P-wave profile (inner core, outer core,
lower and upper mantle, crust). Outside the disc ``u = 0`` (a pressure-release surface), so the sensors
sit ``sensor_depth_cells`` cells below the surface, evenly spaced in angle, and read ``u`` by bilinear
interpolation. The E11/E12 parameter is the source depth in km.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seisforge.errors import ConfigError
from seisforge.wavefield.simulate.common import ROWS, assemble, check_cfl, laplacian4, ricker

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


class GlobalSimulator:
    """Runs one global simulation per (source depth, variant)."""

    def __init__(self, cfg: GlobalConfig, seed: int) -> None:
        if cfg.size not in SIZES:
            raise ConfigError(f"unknown size {cfg.size!r}; use one of {sorted(SIZES)}")
        s_def, g_def = SIZES[cfg.size]
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
        vmax = float(self.v.max())
        self.dt = cfg.dt if cfg.dt is not None else cfg.courant * self.dx / vmax
        self.courant = check_cfl(vmax, self.dt, self.dx, 2, "global simulator")
        self.f0 = float(self.v[self.mask].min()) / (cfg.f0_points_per_wavelength * self.dx) / 2.5
        self.n, self.x0 = n, -half + 0.5 * self.dx
        rs = EARTH_RADIUS_KM - cfg.sensor_depth_cells * self.dx
        th = 2 * np.pi * np.arange(self.sensors) / self.sensors
        self._interp = self._bilinear(rs * np.cos(th), rs * np.sin(th))
        self.rng_seed = seed
        self.delta_t = self.dt * cfg.record_every

    def _bilinear(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, ...]:
        fx, fy = (px - self.x0) / self.dx, (py - self.x0) / self.dx
        ix, iy = np.floor(fx).astype(int), np.floor(fy).astype(int)
        wx, wy = fx - ix, fy - iy
        return ix, iy, wx, wy

    def _record(self, u: np.ndarray) -> np.ndarray:
        ix, iy, wx, wy = self._interp
        return (
            u[ix, iy] * (1 - wx) * (1 - wy) + u[ix + 1, iy] * wx * (1 - wy)
            + u[ix, iy + 1] * (1 - wx) * wy + u[ix + 1, iy + 1] * wx * wy
        )

    def run(self, depth_km: float, variant: int, n_rows: int) -> np.ndarray:
        """Simulate ``n_rows`` recorded rows for a source at ``depth_km`` (variant sets its azimuth)."""
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
        n = self.n
        u = np.zeros((n + 4, n + 4))
        u_old = np.zeros_like(u)
        core = (slice(2, -2), slice(2, -2))
        c2 = (self.v * self.dt) ** 2
        out = np.empty((n_rows, self.sensors))
        steps = n_rows * self.cfg.record_every
        src = ricker(np.arange(steps) * self.dt, self.f0) * self.dt**2 / self.dx**2
        for it in range(steps):
            u_new = 2 * u[core] - u_old[core] + c2 * laplacian4(u, self.dx) + src[it] * g
            u_new *= self.mask
            u_old, u = u, u_old
            u[core] = u_new
            if (it + 1) % self.cfg.record_every == 0:
                out[(it + 1) // self.cfg.record_every - 1] = self._record(u[core])
        return out


def simulate_global(cfg: GlobalConfig, seed: int, progress=None) -> tuple[dict, float, dict]:
    """Simulate the global dataset; returns (matrices, delta_t, provenance)."""
    sim = GlobalSimulator(cfg, seed)
    rows = ROWS[cfg.size]
    rng = np.random.default_rng([seed, 99])
    mats = assemble(
        sim.run, rows, cfg.base_depth_km, tuple(cfg.depths_km), cfg.interp_depth_km, cfg.extrap_depth_km,
        cfg.noise_medium, cfg.noise_high, rng, progress,
    )
    info = {
        "grid": [sim.n, sim.n], "dx_km": sim.dx, "dt_s": sim.dt, "courant": sim.courant,
        "ricker_f0_hz": sim.f0, "sensors": sim.sensors, "parameter": "source depth (km)",
        "cell_updates": int(sim.n**2 * cfg.record_every * (3 * (rows.n + rows.m) + 2 * (rows.limited + rows.m)
                                                       + 3 * rows.n)),
    }
    return mats, sim.delta_t, info
