"""Fourier neural operator (compact 1-D spectral-convolution implementation, PyTorch).

``neuraloperator`` 2.0 is compatible with our torch, but it pulls about twenty extra packages (wandb,
opentelemetry, tensorly, ...) into the environment for one layer type, so the FNO here is the
standard architecture written out (Li et al., 2021): lift -> ``layers`` x (spectral convolution on the
lowest ``modes`` Fourier modes + pointwise convolution, GELU) -> project. The operator maps the last
``window`` rows (channels) over space (the grid) to the increment of the next row; forecasts roll out
autoregressively. Crustal rows are treated as a 1-D sequence of the row-major surface grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seisforge.wavefield.models.base import Task, WavefieldModel, windows
from seisforge.wavefield.models.neural import NeuralForecaster, rollout, train_torch


@dataclass
class FNOConfig:
    """FNO hyper-parameters (``rank`` is the POD rank used on reconstruction pairs)."""

    window: int = 8
    width: int = 24
    modes: int = 16
    layers: int = 3
    epochs: int = 30
    lr: float = 3e-3
    batch: int = 32
    rank: int = 32


def _build(window: int, width: int, modes: int, layers: int):
    import torch

    class SpectralConv1d(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            scale = 1.0 / (width * width)
            self.weight = torch.nn.Parameter(scale * torch.randn(width, width, modes, dtype=torch.cfloat))

        def forward(self, x):
            n = x.shape[-1]
            xf = torch.fft.rfft(x)
            m = min(modes, xf.shape[-1])
            out = torch.zeros(x.shape[0], width, xf.shape[-1], dtype=torch.cfloat, device=x.device)
            out[:, :, :m] = torch.einsum("bim,iom->bom", xf[:, :, :m], self.weight[:, :, :m])
            return torch.fft.irfft(out, n=n)

    class FNO1d(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lift = torch.nn.Conv1d(window + 1, width, 1)
            self.spectral = torch.nn.ModuleList(SpectralConv1d() for _ in range(layers))
            self.pointwise = torch.nn.ModuleList(torch.nn.Conv1d(width, width, 1) for _ in range(layers))
            self.proj = torch.nn.Sequential(torch.nn.Conv1d(width, 64, 1), torch.nn.GELU(), torch.nn.Conv1d(64, 1, 1))

        def forward(self, w):  # w: (batch, window, space)
            grid = torch.linspace(0, 1, w.shape[-1], dtype=w.dtype).expand(w.shape[0], 1, -1)
            x = self.lift(torch.cat([w, grid], dim=1))
            for k, (sc, pw) in enumerate(zip(self.spectral, self.pointwise)):
                x = sc(x) + pw(x)
                if k < layers - 1:
                    x = torch.nn.functional.gelu(x)
            return w[:, -1] + self.proj(x)[:, 0]

    return FNO1d()


class FNOModel(NeuralForecaster, WavefieldModel):
    """Autoregressive FNO over space."""

    name = "fno"
    Config = FNOConfig

    def fit_network(self, train: list[np.ndarray], task: Task) -> None:
        import torch

        cfg = self.config
        x, y = windows(self.train, cfg.window)
        self.cap = float(np.linalg.norm(np.concatenate(self.train), axis=1).max())
        self.net = _build(cfg.window, cfg.width, cfg.modes, cfg.layers)
        train_torch(self.net, torch.from_numpy(x).float(), torch.from_numpy(y).float(),
                    cfg.epochs, cfg.lr, cfg.batch, self.seed)

    def forecast(self, task: Task) -> np.ndarray:
        import torch


        def step(h: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return self.net(torch.from_numpy(h).float()[None])[0].double().numpy()

        return rollout(step, self.context(task)[-self.config.window :], task.n_steps, self.cap)
