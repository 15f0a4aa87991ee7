"""Finite-difference pieces of the CTF simulators and the one time-stepping driver, :func:`leapfrog`.

The global and crustal simulators solve ``u_tt = v(x)^2 lap(u) + s(t) g(x)`` on a grid: leapfrog
(2nd order) in time, 4th-order Laplacian in space, a Ricker wavelet ``s(t)`` and a normalised spatial
source ``g``. They are :class:`WaveSimulator` subclasses and supply only what differs: the grid and
velocity model (``v``, ``dx``), the source ``g``, the boundary (ghost cells), the damping and what is
recorded. :func:`leapfrog` advances the field and records every ``record_every``-th step.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from seisforge.errors import ConfigError

# Second-derivative stencil, 4th order: (-1/12, 4/3, -5/2, 4/3, -1/12).
C0, C1, C2 = -5.0 / 2.0, 4.0 / 3.0, -1.0 / 12.0


def courant_limit(ndim: int) -> float:
    """Largest stable ``v*dt/dx`` for leapfrog (2nd order in time) with the 4th-order Laplacian.

    The stencil's largest eigenvalue is ``16/(3 dx^2)`` per axis, so stability needs
    ``(v dt/dx)^2 * ndim * 16/3 <= 4``, i.e. ``v dt/dx <= sqrt(3 / (4 ndim))``.
    """
    return math.sqrt(3.0 / (4.0 * ndim))


def check_cfl(vmax: float, dt: float, dx: float, ndim: int, what: str) -> float:
    """Return the Courant number ``vmax*dt/dx``; raise :class:`ConfigError` when it is unstable."""
    if dt <= 0 or dx <= 0:
        raise ConfigError(f"{what}: dt ({dt}) and dx ({dx}) must be positive")
    courant = vmax * dt / dx
    limit = courant_limit(ndim)
    if courant > limit:
        raise ConfigError(
            f"{what}: CFL condition violated: vmax*dt/dx = {vmax:g}*{dt:g}/{dx:g} = {courant:.3f} > "
            f"{limit:.3f} (limit for the 2nd-order-time / 4th-order-space scheme in {ndim}-D); "
            f"use dt <= {limit * dx / vmax:.4g}"
        )
    return courant


def laplacian4(u: np.ndarray, dx: float) -> np.ndarray:
    """4th-order Laplacian of the interior of ``u`` (which carries 2 ghost cells on every side)."""
    nd = u.ndim
    core = tuple(slice(2, -2) for _ in range(nd))
    out = (C0 * nd) * u[core]
    for ax in range(nd):
        def sl(shift: int, ax: int = ax) -> tuple[slice, ...]:
            s = list(core)
            n = u.shape[ax]
            s[ax] = slice(2 + shift, n - 2 + shift)
            return tuple(s)

        out += C1 * (u[sl(1)] + u[sl(-1)])
        out += C2 * (u[sl(2)] + u[sl(-2)])
    out *= 1.0 / (dx * dx)
    return out


def ricker(t: np.ndarray, f0: float) -> np.ndarray:
    """Ricker wavelet with peak frequency ``f0``, delayed by ``1.2/f0``."""
    a = (math.pi * f0 * (t - 1.2 / f0)) ** 2
    return (1.0 - 2.0 * a) * np.exp(-a)


def sponge(n: int, pad: int, lo: bool = True, hi: bool = True, edge: float = 0.3) -> np.ndarray:
    """Cerjan et al. (1985) damping profile along one axis.

    1 inside; ``exp(-(a*d)^2)`` in a pad of ``pad`` cells, ``d`` cells from the inner edge of the pad
    counted from the outside, with ``a = edge/pad`` (Cerjan's 0.015 for a 20-cell pad).
    """
    g = np.ones(n)
    if pad <= 0:
        return g
    a = edge / pad
    taper = np.exp(-((a * np.arange(pad, 0, -1)) ** 2))
    if lo:
        g[:pad] = taper
    if hi:
        g[n - pad :] = taper[::-1]
    return g


class WaveSimulator:
    """A finite-difference CTF simulator; implements :class:`~.common.Simulator` through :func:`leapfrog`.

    A subclass sets ``cfg``, ``v`` (velocity on the grid, without ghost cells), ``dx``, ``channels``
    (recorded values per row) and ``family`` in its ``__init__``, calls :meth:`set_time_step`, and
    implements :meth:`source`, :meth:`absorb` and :meth:`record` (and :meth:`boundary` when the
    ghost cells are not simply zero).
    """

    name: ClassVar[str] = "wave"
    cfg: Any
    v: np.ndarray
    dx: float
    channels: int

    def set_time_step(self, vmin: float) -> None:
        """Set ``dt`` (``cfg.dt`` or ``cfg.courant`` times the CFL step), the Ricker peak and ``delta_t``.

        The peak frequency puts ``cfg.f0_points_per_wavelength`` grid points in the shortest wavelength
        (``vmin``) at the wavelet's upper frequency, about ``2.5 f0``.

        Raises
        ------
        ConfigError
            When ``dt`` breaks the CFL condition (:func:`check_cfl`).
        """
        cfg = self.cfg
        vmax = float(self.v.max())
        self.dt = cfg.dt if cfg.dt is not None else cfg.courant * self.dx / vmax
        self.courant = check_cfl(vmax, self.dt, self.dx, self.v.ndim, f"{self.name} simulator")
        self.f0 = vmin / (cfg.f0_points_per_wavelength * self.dx) / 2.5
        self.record_every = cfg.record_every
        self.delta_t = self.dt * cfg.record_every

    def source(self, param: float, variant: int) -> np.ndarray:  # pragma: no cover - abstract
        """Spatial source ``g`` (shape of ``v``, sums to 1) for parameter ``param`` and ``variant``."""
        raise NotImplementedError

    def boundary(self, u: np.ndarray) -> None:
        """Fill the ghost cells of ``u`` before a step (default: leave them zero)."""

    def absorb(self, u_new: np.ndarray, u_core: np.ndarray) -> None:  # pragma: no cover - abstract
        """Damp (in place) the new field ``u_new`` and the current interior ``u_core``."""
        raise NotImplementedError

    def record(self, u: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """One recorded row (``channels`` values) from the field ``u`` with its ghost cells."""
        raise NotImplementedError

    def run(self, param: float, variant: int, n_rows: int) -> np.ndarray:
        """Simulate ``n_rows`` recorded rows for ``param`` and ``variant``."""
        return leapfrog(self, self.source(param, variant), n_rows)

    def provenance(self) -> dict[str, Any]:
        """Grid, steps and wavelet of the simulation (the subclass adds what it records)."""
        return {
            "grid": list(self.v.shape), "dx_km": self.dx, "dt_s": self.dt, "courant": self.courant,
            "ricker_f0_hz": self.f0,
        }

    def cell_updates_per_row(self) -> int:
        """Grid points advanced per recorded row."""
        return int(np.prod(self.v.shape)) * self.record_every


def leapfrog(sim: WaveSimulator, g: np.ndarray, n_rows: int) -> np.ndarray:
    """Advance ``u_tt = v^2 lap(u) + s(t) g`` from rest and return ``n_rows`` recorded rows.

    Each step: ``sim.boundary`` fills the ghost cells, then
    ``u_new = 2 u - u_old + (v dt)^2 lap4(u) + s(t) g`` with ``s`` the Ricker wavelet times
    ``dt^2 / dx^ndim`` (``g`` sums to 1, so ``g / dx^ndim`` integrates to 1), then ``sim.absorb`` damps ``u_new`` and
    ``u``, which become the current and previous fields. Every ``record_every``-th step ``sim.record``
    reads one row. The field carries two ghost cells on every side for the 4th-order stencil.
    """
    ndim = sim.v.ndim
    u = np.zeros(tuple(s + 4 for s in sim.v.shape))
    u_old = np.zeros_like(u)
    core = (slice(2, -2),) * ndim
    c2 = (sim.v * sim.dt) ** 2
    every = sim.record_every
    out = np.empty((n_rows, sim.channels))
    steps = n_rows * every
    src = ricker(np.arange(steps) * sim.dt, sim.f0) * sim.dt**2 / sim.dx**ndim
    for it in range(steps):
        sim.boundary(u)
        u_new = 2 * u[core] - u_old[core] + c2 * laplacian4(u, sim.dx) + src[it] * g
        sim.absorb(u_new, u[core])
        u_old, u = u, u_old
        u[core] = u_new
        if (it + 1) % every == 0:
            out[(it + 1) // every - 1] = sim.record(u)
    return out
