"""Crustal dataset: 3-D acoustic wave equation in a heterogeneous crust, recorded on a surface grid.

``u_tt = v(x)^2 lap(u) + s(t) g(x - x_s)``: leapfrog (2nd order) in time, 4th-order Laplacian in
space, advanced by the shared driver :func:`.stepping.leapfrog`. The top face is a free surface
(traction-free, ``du/dz = 0``, by mirroring the two ghost layers); the four sides and the bottom carry
Cerjan sponge layers of ``pad`` cells. The velocity model is layered (sediment, upper, middle, lower
crust) plus a smooth random perturbation (Gaussian-filtered white noise, ``perturbation`` relative
standard deviation). A Ricker point source sits at depth; the recording is the ``surface`` x
``surface`` grid (flattened row-major into columns). The E11/E12 parameter is the source depth in km.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from seisforge.errors import ConfigError
from seisforge.wavefield.simulate.common import Family, sized
from seisforge.wavefield.simulate.stepping import WaveSimulator, sponge

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


class CrustalSimulator(WaveSimulator):
    """Runs one crustal simulation per (source depth, variant) through the shared :func:`.stepping.leapfrog`."""

    name = "crustal"

    def __init__(self, cfg: CrustalConfig, seed: int) -> None:
        ns, pad_def = sized(SIZES, cfg.size)
        self.cfg = cfg
        self.ns = cfg.surface or ns
        self.pad = cfg.pad if cfg.pad is not None else pad_def
        self.dx = cfg.width_km / self.ns
        self.nz = int(round(cfg.depth_km / self.dx))
        nx = self.ns + 2 * self.pad
        self.shape = (nx, nx, self.nz + self.pad)
        self.v = self._velocity(seed)
        self.set_time_step(float(self.v.min()))
        gx = sponge(nx, self.pad)
        gz = sponge(self.shape[2], self.pad, lo=False, hi=True)
        self.damp = gx[:, None, None] * gx[None, :, None] * gz[None, None, :]
        self.seed = seed
        self.channels = self.ns * self.ns
        self.family = Family(cfg.base_depth_km, tuple(cfg.depths_km), cfg.interp_depth_km, cfg.extrap_depth_km)

    def _velocity(self, seed: int) -> np.ndarray:
        """Layered crust times ``1 + perturbation * (smooth unit-variance noise)``."""
        cfg = self.cfg
        z = np.arange(self.shape[2]) * self.dx
        v1d = np.full(z.shape, LAYERS[0][1])
        for top, vel in LAYERS:
            v1d[z >= top] = vel
        rng = np.random.default_rng([seed, 7])
        noise = gaussian_filter(rng.standard_normal(self.shape), cfg.correlation_km / self.dx, mode="nearest")
        noise /= noise.std() or 1.0
        return v1d[None, None, :] * (1.0 + cfg.perturbation * noise)

    def source(self, depth_km: float, variant: int) -> np.ndarray:
        """Gaussian point source at ``depth_km`` under a random surface point (set by ``variant``)."""
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
        return g

    def boundary(self, u: np.ndarray) -> None:
        """Free surface: even mirror about the surface node (index 2 of the padded array)."""
        u[:, :, 1] = u[:, :, 3]
        u[:, :, 0] = u[:, :, 4]

    def absorb(self, u_new: np.ndarray, u_core: np.ndarray) -> None:
        """Cerjan sponge on the sides and the bottom, applied to both time levels."""
        u_new *= self.damp
        u_core *= self.damp

    def record(self, u: np.ndarray) -> np.ndarray:
        """The ``surface`` x ``surface`` grid at the free surface, flattened row-major."""
        p, ns = self.pad, self.ns
        return u[2 + p : 2 + p + ns, 2 + p : 2 + p + ns, 2].ravel()

    def provenance(self) -> dict[str, Any]:
        """Grid, steps, wavelet, the recorded surface grid and the parameter."""
        return {**super().provenance(), "surface_grid": [self.ns, self.ns], "parameter": "source depth (km)"}
