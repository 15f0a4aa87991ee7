"""LSTM forecaster on POD coefficients (PyTorch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seisforge.wavefield.models.base import Task, WavefieldModel, windows
from seisforge.wavefield.models.neural import NeuralForecaster, PODSpace, rollout, train_torch


@dataclass
class LSTMConfig:
    """LSTM hyper-parameters."""

    rank: int = 32
    window: int = 16
    hidden: int = 64
    layers: int = 1
    epochs: int = 60
    lr: float = 3e-3
    batch: int = 64


class LSTMModel(NeuralForecaster, WavefieldModel):
    """Window of POD coefficients -> LSTM -> linear head -> increment of the next coefficients."""

    name = "lstm"
    Config = LSTMConfig

    def fit_network(self, train: list[np.ndarray], task: Task) -> None:
        import torch

        cfg = self.config
        self.pod = PODSpace(self.train, cfg.rank)
        x, y = windows([self.pod.encode(m) for m in self.train], cfg.window)
        r = self.pod.rank

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm = torch.nn.LSTM(r, cfg.hidden, num_layers=cfg.layers, batch_first=True)
                self.head = torch.nn.Linear(cfg.hidden, r)

            def forward(self, w):
                h, _ = self.lstm(w)
                return w[:, -1] + self.head(h[:, -1])

        self.net = Net().double()
        train_torch(self.net, torch.from_numpy(x), torch.from_numpy(y), cfg.epochs, cfg.lr, cfg.batch, self.seed)

    def forecast(self, task: Task) -> np.ndarray:
        import torch

        hist = self.pod.encode(self.context(task)[-self.config.window :])

        def step(h: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return self.net(torch.from_numpy(h)[None])[0].numpy()

        return self.pod.decode(rollout(step, hist, task.n_steps, self.pod.cap))
