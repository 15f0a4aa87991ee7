"""Reference baselines: zero, mean and last value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seisforge.wavefield.models.base import Task, WavefieldModel


@dataclass
class NoConfig:
    """These baselines have no parameters."""


class ZeroModel(WavefieldModel):
    """Predicts zeros: scores exactly 0 on every E (the CTF reference point)."""

    name = "zero"
    Config = NoConfig

    def predict(self, task: Task) -> np.ndarray:
        return np.zeros(task.shape)


class MeanModel(WavefieldModel):
    """Per-channel mean of the context (forecast) or of the training matrix (reconstruction)."""

    name = "mean"
    Config = NoConfig

    def predict(self, task: Task) -> np.ndarray:
        src = self.train[0] if task.kind == "reconstruction" else self.context(task)
        return np.broadcast_to(src.mean(axis=0), task.shape).copy()


class LastModel(WavefieldModel):
    """Repeats the last context row (forecast); returns the noisy input itself (reconstruction)."""

    name = "last"
    Config = NoConfig

    def predict(self, task: Task) -> np.ndarray:
        if task.kind == "reconstruction":
            return self.train[0].copy()
        return np.broadcast_to(self.context(task)[-1], task.shape).copy()
