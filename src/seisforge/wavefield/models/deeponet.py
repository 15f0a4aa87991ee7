"""DeepONet (Lu et al., 2021) forecaster (PyTorch).

The branch net reads the last ``window`` rows as POD coefficients; the trunk net reads a channel's
coordinate (2-D ``(i, j)/n`` when the row is a square surface grid, as for crustal; else ``i/S``). The
next row is the last row plus ``sum_p branch_p * trunk_p(x) + bias``; forecasts roll out
autoregressively.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seisforge.wavefield.models.base import Task, WavefieldModel, windows
from seisforge.wavefield.models.neural import NeuralForecaster, PODSpace, rollout, train_torch


@dataclass
class DeepONetConfig:
    """DeepONet hyper-parameters."""

    rank: int = 32
    window: int = 8
    width: int = 64
    basis: int = 48
    epochs: int = 150
    lr: float = 2e-3
    batch: int = 64


def coordinates(space: int) -> np.ndarray:
    """Trunk inputs: ``(space, 2)`` grid coordinates for a square grid, else ``(space, 1)``."""
    n = int(round(math.sqrt(space)))
    if n * n == space and n > 1:
        i, j = np.divmod(np.arange(space), n)
        return np.stack([i / (n - 1), j / (n - 1)], axis=1)
    return (np.arange(space) / max(space - 1, 1))[:, None]


class DeepONetModel(NeuralForecaster, WavefieldModel):
    """Branch (POD window) x trunk (coordinates) operator network."""

    name = "deeponet"
    Config = DeepONetConfig

    def fit_network(self, train: list[np.ndarray], task: Task) -> None:
        import torch

        cfg = self.config
        self.pod = PODSpace(self.train, cfg.rank)
        xw, y = windows(self.train, cfg.window)
        branch_in = (self.pod.encode(xw.reshape(-1, xw.shape[-1])).reshape(xw.shape[0], -1))
        coords = torch.from_numpy(coordinates(task.n_space))
        self.cap = float(np.linalg.norm(np.concatenate(self.train), axis=1).max())
        d_in, width, p = branch_in.shape[1], cfg.width, cfg.basis

        def mlp(a: int, b: int):
            return torch.nn.Sequential(torch.nn.Linear(a, width), torch.nn.Tanh(), torch.nn.Linear(width, width),
                                       torch.nn.Tanh(), torch.nn.Linear(width, b))

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.branch = mlp(d_in, p)
                self.trunk = mlp(coords.shape[1], p)
                self.bias = torch.nn.Parameter(torch.zeros(1))

            def forward(self, inp):
                b_in, last = inp[:, :d_in], inp[:, d_in:]
                return last + self.branch(b_in) @ self.trunk(coords).T / p + self.bias

        self.net = Net().double()
        inputs = torch.from_numpy(np.concatenate([branch_in, xw[:, -1]], axis=1))
        train_torch(self.net, inputs, torch.from_numpy(y), cfg.epochs, cfg.lr, cfg.batch, self.seed)

    def forecast(self, task: Task) -> np.ndarray:
        import torch


        def step(h: np.ndarray) -> np.ndarray:
            inp = np.concatenate([self.pod.encode(h).ravel(), h[-1]])[None]
            with torch.no_grad():
                return self.net(torch.from_numpy(inp))[0].numpy()

        return rollout(step, self.context(task)[-self.config.window :], task.n_steps, self.cap)
