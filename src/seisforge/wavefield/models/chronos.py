"""Optional Chronos zero-shot adapter: local weights only, never a download.

Each channel's context is forecast independently by a Chronos pipeline loaded from ``weights`` (a
local folder). When the ``chronos`` package or the folder is missing, building the model raises
:class:`ModelUnavailable` with the reason, and ``ctf run`` records the skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seisforge.wavefield.models.base import ModelUnavailable, Task, WavefieldModel, pod_reconstruct


@dataclass
class ChronosConfig:
    """``weights``: local folder of a Chronos checkpoint (``config.json`` + weights)."""

    weights: str = ""
    batch: int = 64
    rank: int = 40


class ChronosModel(WavefieldModel):
    """Zero-shot Chronos forecasts per channel (reconstruction: POD projection)."""

    name = "chronos"
    Config = ChronosConfig

    def __init__(self, config: ChronosConfig, seed: int = 0) -> None:
        super().__init__(config, seed)
        path = Path(config.weights) if config.weights else None
        if path is None or not (path / "config.json").is_file():
            raise ModelUnavailable(
                f"chronos: local weights not found ({config.weights or 'weights not set'}); set "
                "--set weights=/path/to/chronos-checkpoint (downloads are not attempted)"
            )
        try:
            from chronos import BaseChronosPipeline
        except ImportError as err:
            raise ModelUnavailable("chronos: the 'chronos-forecasting' package is not installed") from err
        self.pipeline = BaseChronosPipeline.from_pretrained(str(path), device_map="cpu")

    def predict(self, task: Task) -> np.ndarray:
        import torch

        if task.kind == "reconstruction":
            return pod_reconstruct(self.train[0], self.config.rank)
        ctx = self.context(task)
        out = np.empty(task.shape)
        for lo in range(0, task.n_space, self.config.batch):
            hi = min(task.n_space, lo + self.config.batch)
            series = torch.tensor(ctx[:, lo:hi].T, dtype=torch.float32)
            _, mean = self.pipeline.predict_quantiles(series, prediction_length=task.n_steps, quantile_levels=[0.5])
            out[:, lo:hi] = mean.numpy().T
        return out
