"""The plug-in interface of wavefield (CTF) models and shared helpers.

A model is built from a typed config and a seed, ``fit``s on a pair's training matrices and
``predict``s the truth shape. For forecast pairs the prediction continues the *context*: the burn-in
matrix when the pair has one (pairs 8, 9), else the last training matrix. For reconstruction pairs
(2, 4) the prediction is the denoised training matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from seisforge.errors import DataError, SeisforgeError


class ModelUnavailable(SeisforgeError):
    """A model that cannot run here (missing optional package or local weights); skipped with a reason."""


@dataclass
class Task:
    """What a model must produce for one pair."""

    pair_id: int
    kind: str  # "forecast" or "reconstruction"
    n_steps: int
    n_space: int
    init: np.ndarray | None = None
    delta_t: float = 1.0

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the prediction."""
        return (self.n_steps, self.n_space)


class WavefieldModel:
    """Base class: subclasses set ``name`` and ``Config`` and implement :meth:`fit` / :meth:`predict`."""

    name: ClassVar[str] = "base"
    Config: ClassVar[type] = object

    def __init__(self, config: Any, seed: int = 0) -> None:
        self.config = config
        self.seed = seed
        self.train: list[np.ndarray] = []

    def fit(self, train: list[np.ndarray], task: Task) -> None:
        """Learn from the training matrices (default: remember them)."""
        self.train = [np.asarray(t, dtype=np.float64) for t in train]

    def predict(self, task: Task) -> np.ndarray:  # pragma: no cover - abstract
        """Return an array of ``task.shape``."""
        raise NotImplementedError

    def context(self, task: Task) -> np.ndarray:
        """Rows the forecast continues: the burn-in if given, else the last training matrix."""
        if task.init is not None:
            return np.asarray(task.init, dtype=np.float64)
        if not self.train:
            raise DataError(f"pair {task.pair_id}: model was not fitted")
        return self.train[-1]


def pod_basis(mats: list[np.ndarray], rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and the leading ``rank`` POD (left singular) vectors of the stacked rows."""
    x = np.concatenate(mats, axis=0)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    r = max(1, min(rank, int(np.sum(s > s[0] * 1e-10)) if s.size and s[0] > 0 else 1))
    return mean, vt[:r].T


def pod_reconstruct(x: np.ndarray, rank: int) -> np.ndarray:
    """Rank-``rank`` POD projection of ``x`` (the denoiser the forecast models use on reconstruction pairs)."""
    mean, basis = pod_basis([x], rank)
    return mean + (x - mean) @ basis @ basis.T


def windows(mats: list[np.ndarray], width: int) -> tuple[np.ndarray, np.ndarray]:
    """All ``(rows t-width..t-1) -> row t`` samples inside each matrix (never across matrices)."""
    xs, ys = [], []
    for m in mats:
        if m.shape[0] <= width:
            continue
        idx = np.arange(width, m.shape[0])
        xs.append(np.stack([m[i - width : i] for i in idx]))
        ys.append(m[idx])
    if not xs:
        raise DataError(f"training matrices are too short for a window of {width} rows")
    return np.concatenate(xs), np.concatenate(ys)
