"""What every CTF simulator shares: the :class:`Simulator` protocol, sizes, and the driver
:func:`simulate_dataset` that assembles simulated trajectories into the nine official CTF pairs.
The finite-difference pieces (stencil, CFL check, wavelet, time stepping) are in :mod:`.stepping`.

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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

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

    @property
    def simulated(self) -> int:
        """Rows :func:`assemble` simulates: A, B, C, the three parametric runs, interpolation, extrapolation."""
        return 3 * (self.n + self.m) + 2 * (self.limited + self.m) + 3 * self.n


ROWS = {
    "tiny": Rows(n=100, m=30, limited=30, burn=25),
    "small": Rows(n=400, m=100, limited=60, burn=40),
    "paper": Rows(n=2000, m=500, limited=100, burn=100),
}

T = TypeVar("T")


def sized(table: dict[str, T], size: str) -> T:
    """The entry of ``table`` for ``size``; raise :class:`ConfigError` naming the known sizes."""
    if size not in table:
        raise ConfigError(f"unknown size {size!r}; use one of {sorted(table)}")
    return table[size]


@dataclass(frozen=True)
class Family:
    """The simulation parameter (E11/E12): base value, the three training values, interp and extrap."""

    base: float
    values: tuple[float, float, float]
    interp: float
    extrap: float


class Simulator(Protocol):
    """What a CTF simulator supplies to :func:`simulate_dataset`.

    ``run(param, variant, n_rows)`` returns a clean ``(n_rows, space)`` trajectory; ``variant`` selects
    the source position / initial condition (0: A, 1: B, 2: C, 3: parametric family). The
    finite-difference simulators get ``run`` from :class:`.stepping.WaveSimulator`.
    """

    delta_t: float
    family: Family

    def run(self, param: float, variant: int, n_rows: int) -> np.ndarray:
        """Simulate ``n_rows`` rows for parameter ``param`` and ``variant``."""
        ...

    def provenance(self) -> dict[str, Any]:
        """Simulation details for the dataset yaml (``cell_updates`` is added by the driver)."""
        ...

    def cell_updates_per_row(self) -> int:
        """Cost of one simulated row, in the simulator's own cell-update unit."""
        ...


def simulate_dataset(
    sim: Simulator, cfg: Any, seed: int, progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, tuple[np.ndarray, int]], float, dict[str, Any]]:
    """Simulate all trajectories of ``sim`` and assemble the official matrices.

    ``cfg`` is the simulator's config (``size``, ``noise_medium``, ``noise_high`` are read here).
    Returns ``(matrices, delta_t, provenance)``; the provenance counts the cell updates.
    """
    rows = sized(ROWS, cfg.size)
    rng = np.random.default_rng([seed, 99])
    fam = sim.family
    mats = assemble(
        sim.run, rows, fam.base, fam.values, fam.interp, fam.extrap, cfg.noise_medium, cfg.noise_high, rng,
        progress,
    )
    info = {**sim.provenance(), "cell_updates": int(sim.cell_updates_per_row() * rows.simulated)}
    return mats, sim.delta_t, info


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
