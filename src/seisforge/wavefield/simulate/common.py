"""Shared pieces of the CTF simulators: sizes, finite-difference stencil, CFL check, source wavelet,
and the assembly of simulated trajectories into the nine official CTF pairs.

Assembly (rows ``N`` train, ``M`` test, ``L`` limited, ``B`` burn-in; every trajectory is clean):

============  =====================================  =============================================
matrix        content                                start index
============  =====================================  =============================================
X1train       trajectory A rows [0, N)               0
X2train       X1train + medium noise                 0
X3train       X1train + high noise                   0
X4train       trajectory B rows [0, L) (limited)     0
X5train       trajectory C rows [0, L) + medium      0
X6-8train     parameter p1, p2, p3, rows [0, N)      0
X9train       parameter p_interp, rows [N-B, N)      N-B
X10train      parameter p_extrap, rows [N-B, N)      N-B
X1,3,5test    trajectory A rows [N, N+M)             N
X2,4test      trajectory A rows [0, N) (clean)       0
X6test        trajectory B rows [L, L+M)             L
X7test        trajectory C rows [L, L+M)             L
X8test        p_interp rows [N, N+M)                 N
X9test        p_extrap rows [N, N+M)                 N
============  =====================================  =============================================

Each group (A; B; C; the parametric runs together) is normalised to zero mean and unit variance with
the scalar mean and standard deviation of its clean training rows; noise is then added in those units.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seisforge.errors import ConfigError
from seisforge.wavefield.layout import DEFAULT_K, DEFAULT_MODES, EvalParams


@dataclass(frozen=True)
class Rows:
    """Row counts of one size: train ``n``, test ``m``, limited ``limited``, burn-in ``burn``."""

    n: int
    m: int
    limited: int
    burn: int


ROWS = {
    "tiny": Rows(n=100, m=30, limited=30, burn=25),
    "small": Rows(n=400, m=100, limited=60, burn=40),
    "paper": Rows(n=2000, m=500, limited=100, burn=100),
}

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


def eval_params(space: int) -> EvalParams:
    """Default evaluation parameters, with ``modes`` capped at the one-sided bins of ``space`` points."""
    return EvalParams(k_short=DEFAULT_K, k_long=DEFAULT_K, modes=min(DEFAULT_MODES, space - space // 2))


def _normalise(mats: list[np.ndarray], ref: list[np.ndarray]) -> list[np.ndarray]:
    stack = np.concatenate([r.ravel() for r in ref])
    mu, sd = float(stack.mean()), float(stack.std())
    if not np.isfinite(sd) or sd == 0.0:
        raise ConfigError("simulation produced a constant (or non-finite) field; check the parameters")
    return [(m - mu) / sd for m in mats]


def assemble(
    run: Callable[[float, int, int], np.ndarray],
    rows: Rows,
    base_param: float,
    params: tuple[float, float, float],
    interp: float,
    extrap: float,
    noise_medium: float,
    noise_high: float,
    rng: np.random.Generator,
    progress: Callable[[str], None] | None = None,
) -> dict[str, tuple[np.ndarray, int]]:
    """Run the simulations and build the official matrices (see module docstring).

    Parameters
    ----------
    run
        ``run(param, variant, n_rows) -> (n_rows, space)`` clean trajectory; ``variant`` selects the
        source position / initial condition (0: A, 1: B, 2: C, 3: parametric family).
    """
    n, m, lim, burn = rows.n, rows.m, rows.limited, rows.burn
    if burn >= n or lim < 2 or m < DEFAULT_K:
        raise ConfigError(f"inconsistent row counts {rows}: need burn < n, limited >= 2, m >= {DEFAULT_K}")

    def step(label: str, *a: float) -> np.ndarray:
        if progress:
            progress(label)
        return run(*a)

    a_traj = step("A", base_param, 0, n + m)
    b_traj = step("B", base_param, 1, lim + m)
    c_traj = step("C", base_param, 2, lim + m)
    fam = [step(f"p={p:g}", p, 3, n) for p in params]
    p_int = step(f"interp p={interp:g}", interp, 3, n + m)
    p_ext = step(f"extrap p={extrap:g}", extrap, 3, n + m)

    (a_traj,) = _normalise([a_traj], [a_traj[:n]])
    (b_traj,) = _normalise([b_traj], [b_traj[:lim]])
    (c_traj,) = _normalise([c_traj], [c_traj[:lim]])
    normed = _normalise([*fam, p_int, p_ext], fam)
    fam, p_int, p_ext = normed[:3], normed[3], normed[4]

    def noisy(x: np.ndarray, level: float) -> np.ndarray:
        return x + level * rng.standard_normal(x.shape)

    a_tr, a_te = a_traj[:n], a_traj[n:]
    return {
        "X1train": (a_tr, 0),
        "X2train": (noisy(a_tr, noise_medium), 0),
        "X3train": (noisy(a_tr, noise_high), 0),
        "X4train": (b_traj[:lim], 0),
        "X5train": (noisy(c_traj[:lim], noise_medium), 0),
        "X6train": (fam[0], 0),
        "X7train": (fam[1], 0),
        "X8train": (fam[2], 0),
        "X9train": (p_int[n - burn : n], n - burn),
        "X10train": (p_ext[n - burn : n], n - burn),
        "X1test": (a_te, n),
        "X2test": (a_tr.copy(), 0),
        "X3test": (a_te.copy(), n),
        "X4test": (a_tr.copy(), 0),
        "X5test": (a_te.copy(), n),
        "X6test": (b_traj[lim:], lim),
        "X7test": (c_traj[lim:], lim),
        "X8test": (p_int[n:], n),
        "X9test": (p_ext[n:], n),
    }
