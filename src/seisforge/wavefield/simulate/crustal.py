"""Crustal dataset: 3-D acoustic wave equation in a heterogeneous crust, recorded on a surface grid.

``u_tt = v(x)^2 lap(u) + s(t) g(x - x_s)``: leapfrog (2nd order) in time, 4th-order Laplacian in
space. The top face is a free surface (traction-free, ``du/dz = 0``, by mirroring the two ghost
layers); the four sides and the bottom carry Cerjan sponge layers of ``pad`` cells. The velocity model
is layered (sediment, upper, middle, lower crust) plus a smooth random perturbation (Gaussian-filtered
white noise, ``perturbation`` relative standard deviation). A Ricker point source sits at depth; the
recording is the ``surface`` x ``surface`` grid (flattened row-major into columns). The E11/E12
parameter is the source depth in km.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from seisforge.errors import ConfigError
from seisforge.wavefield.simulate.common import ROWS, assemble, check_cfl, laplacian4, ricker, sponge

# (top depth km, velocity km/s)
LAYERS = ((0.0, 3.0), (2.0, 5.6), (10.0, 6.3), (20.0, 6.9))


@dataclass
class CrustalConfig:
    """Parameters of the crustal simulator (``None`` values come from the size)."""

    size: str = "small"
    surface: int | None = None
    width_km: float = 47.0
    depth_km: float = 24.0
    pad: int | None = None
    courant: float = 0.4
    dt: float | None = None
    record_every: int = 2
    f0_points_per_wavelength: float = 4.0
    perturbation: float = 0.05
    correlation_km: float = 3.0
    base_depth_km: float = 10.0
    depths_km: tuple[float, float, float] = (6.0, 10.0, 14.0)
    interp_depth_km: float = 8.0
    extrap_depth_km: float = 18.0
    noise_medium: float = 0.2
    noise_high: float = 0.5


SIZES = {"tiny": (8, 4), "small": (24, 10), "paper": (94, 16)}  # (surface points per side, pad)


class CrustalSimulator:
    """Runs one crustal simulation per (source depth, variant)."""

    def __init__(self, cfg: CrustalConfig, seed: int) -> None:
        if cfg.size not in SIZES:
            raise ConfigError(f"unknown size {cfg.size!r}; use one of {sorted(SIZES)}")
        ns, pad_def = SIZES[cfg.size]
        self.cfg = cfg
        self.ns = cfg.surface or ns
        self.pad = cfg.pad if cfg.pad is not None else pad_def
        self.dx = cfg.width_km / self.ns
        self.nz = int(round(cfg.depth_km / self.dx))
        nx = self.ns + 2 * self.pad
        self.shape = (nx, nx, self.nz + self.pad)
        z = np.arange(self.shape[2]) * self.dx
        v1d = np.full(z.shape, LAYERS[0][1])
        for top, vel in LAYERS:
            v1d[z >= top] = vel
        rng = np.random.default_rng([seed, 7])
        noise = gaussian_filter(rng.standard_normal(self.shape), cfg.correlation_km / self.dx, mode="nearest")
        noise /= noise.std() or 1.0
        self.v = v1d[None, None, :] * (1.0 + cfg.perturbation * noise)
        vmax = float(self.v.max())
        self.dt = cfg.dt if cfg.dt is not None else cfg.courant * self.dx / vmax
        self.courant = check_cfl(vmax, self.dt, self.dx, 3, "crustal simulator")
        self.f0 = float(self.v.min()) / (cfg.f0_points_per_wavelength * self.dx) / 2.5
        gx = sponge(nx, self.pad)
        gz = sponge(self.shape[2], self.pad, lo=False, hi=True)
        self.damp = gx[:, None, None] * gx[None, :, None] * gz[None, None, :]
        self.seed = seed
        self.delta_t = self.dt * cfg.record_every

    def run(self, depth_km: float, variant: int, n_rows: int) -> np.ndarray:
        """Simulate ``n_rows`` surface snapshots for a source at ``depth_km``."""
        if not 0 < depth_km < self.cfg.depth_km:
            raise ConfigError(f"crustal: source depth {depth_km} km outside [0, {self.cfg.depth_km}] km")
        rng = np.random.default_rng([self.seed, variant])
        half = self.cfg.width_km / 2
        sx, sy = rng.uniform(0.3 * half, 1.7 * half, size=2)
        ax = (np.arange(self.shape[0]) - self.pad + 0.5) * self.dx
        az = np.arange(self.shape[2]) * self.dx
        width = 1.0 * self.dx
        g = (
            np.exp(-((ax - sx) ** 2) / (2 * width**2))[:, None, None]
            * np.exp(-((ax - sy) ** 2) / (2 * width**2))[None, :, None]
            * np.exp(-((az - depth_km) ** 2) / (2 * width**2))[None, None, :]
        )
        g /= g.sum()
        u = np.zeros(tuple(s + 4 for s in self.shape))
        u_old = np.zeros_like(u)
        core = (slice(2, -2),) * 3
        c2 = (self.v * self.dt) ** 2
        p, ns = self.pad, self.ns
        out = np.empty((n_rows, ns * ns))
        steps = n_rows * self.cfg.record_every
        src = ricker(np.arange(steps) * self.dt, self.f0) * self.dt**2 / self.dx**3
        for it in range(steps):
            # free surface: even mirror about the surface node (index 2 of the padded array)
            u[:, :, 1] = u[:, :, 3]
            u[:, :, 0] = u[:, :, 4]
            u_new = 2 * u[core] - u_old[core] + c2 * laplacian4(u, self.dx) + src[it] * g
            u_new *= self.damp
            u[core] *= self.damp
            u_old, u = u, u_old
            u[core] = u_new
            if (it + 1) % self.cfg.record_every == 0:
                out[(it + 1) // self.cfg.record_every - 1] = u[2 + p : 2 + p + ns, 2 + p : 2 + p + ns, 2].ravel()
        return out


def simulate_crustal(cfg: CrustalConfig, seed: int, progress=None) -> tuple[dict, float, dict]:
    """Simulate the crustal dataset; returns (matrices, delta_t, provenance)."""
    sim = CrustalSimulator(cfg, seed)
    rows = ROWS[cfg.size]
    rng = np.random.default_rng([seed, 99])
    mats = assemble(
        sim.run, rows, cfg.base_depth_km, tuple(cfg.depths_km), cfg.interp_depth_km, cfg.extrap_depth_km,
        cfg.noise_medium, cfg.noise_high, rng, progress,
    )
    cells = int(np.prod(sim.shape))
    info = {
        "grid": list(sim.shape), "dx_km": sim.dx, "dt_s": sim.dt, "courant": sim.courant,
        "ricker_f0_hz": sim.f0, "surface_grid": [sim.ns, sim.ns], "parameter": "source depth (km)",
        "cell_updates": cells * cfg.record_every * (3 * (rows.n + rows.m) + 2 * (rows.limited + rows.m) + 3 * rows.n),
    }
    return mats, sim.delta_t, info
