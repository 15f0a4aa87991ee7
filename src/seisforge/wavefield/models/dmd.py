"""Dynamic mode decomposition with time-delay embedding (higher-order DMD), built on ``pydmd``.

Rows are stacked ``delays`` at a time (``z_t = [x_t, x_{t-1}, ..., x_{t-d+1}]``); ``pydmd.DMD`` fits
the linear operator from snapshot pairs ``(z_t, z_{t+1})`` of every training matrix (pairs never cross
matrices). A forecast projects the last context embedding on the POD basis ``U`` of the fit (recovered
as ``modes @ inv(eigenvectors)``, pydmd's projected modes being ``U W``) and iterates the reduced
operator ``A = W diag(lambda) W^-1``. With ``stabilise`` eigenvalues outside the unit circle are
scaled back onto it *and* the reduced state's norm is capped at the largest norm seen in training:
eigenvalue clipping alone does not stop the transient (non-normal) growth that ill-conditioned
eigenvectors produce on wave data. For
reconstruction pairs the noisy matrix is projected on the span of the DMD modes (a rank-``rank``
denoiser).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seisforge.errors import ConfigError, DataError
from seisforge.wavefield.models.base import Task, WavefieldModel


@dataclass
class DMDConfig:
    """DMD hyper-parameters."""

    rank: int = 40
    delays: int = 6
    stabilise: bool = True


def _embed(x: np.ndarray, d: int) -> np.ndarray:
    """Delay embedding: column ``j`` is ``[x_{j+d-1}, ..., x_j]`` (features x (T-d+1))."""
    t = x.shape[0] - d + 1
    return np.concatenate([x[d - 1 - i : d - 1 - i + t].T for i in range(d)], axis=0)


class DMDModel(WavefieldModel):
    """Delay-embedded DMD (pydmd)."""

    name = "dmd"
    Config = DMDConfig

    def fit(self, train: list[np.ndarray], task: Task) -> None:
        from pydmd import DMD

        super().fit(train, task)
        cfg = self.config
        if cfg.rank < 1 or cfg.delays < 1:
            raise ConfigError(f"dmd: rank and delays must be >= 1, got {cfg.rank}, {cfg.delays}")
        d = 1 if task.kind == "reconstruction" else cfg.delays
        xs, ys = [], []
        for m in self.train:
            if m.shape[0] < d + 1:
                continue
            z = _embed(m, d)
            xs.append(z[:, :-1])
            ys.append(z[:, 1:])
        if not xs:
            raise DataError(f"dmd: training matrices shorter than delays+1 = {d + 1} rows")
        self.d = d
        self.dmd = DMD(svd_rank=min(cfg.rank, sum(x.shape[1] for x in xs)))
        x_all = np.concatenate(xs, axis=1)
        self.dmd.fit(x_all, np.concatenate(ys, axis=1))
        if task.kind == "forecast":
            vecs = np.asarray(self.dmd.operator.eigenvectors)
            basis = np.real(np.asarray(self.dmd.modes) @ np.linalg.pinv(vecs))
            self.cmax = float(np.linalg.norm(basis.T @ x_all, axis=0).max())

    def predict(self, task: Task) -> np.ndarray:
        modes = np.asarray(self.dmd.modes)
        if task.kind == "reconstruction":
            x = self.train[0].T
            coef = np.linalg.lstsq(modes, x, rcond=None)[0]
            return np.real(modes @ coef).T
        ctx = self.context(task)
        if ctx.shape[0] < self.d:
            raise DataError(f"dmd: context has {ctx.shape[0]} rows, fewer than delays={self.d}")
        z0 = _embed(ctx[-self.d :], self.d)[:, -1]
        eigs = np.asarray(self.dmd.eigs)
        vecs = np.asarray(self.dmd.operator.eigenvectors)
        if self.config.stabilise:
            mag = np.abs(eigs)
            eigs = np.where(mag > 1.0, eigs / np.maximum(mag, 1e-300), eigs)
        inv = np.linalg.pinv(vecs)
        basis = np.real(modes @ inv)
        op = np.real(vecs @ np.diag(eigs) @ inv)
        c = basis.T @ z0
        cmax = self.cmax if self.config.stabilise else np.inf
        out = np.empty(task.shape)
        for t in range(task.n_steps):
            c = op @ c
            norm = float(np.linalg.norm(c))
            if norm > cmax:
                c *= cmax / norm
            out[t] = basis[: task.n_space] @ c
        return out
