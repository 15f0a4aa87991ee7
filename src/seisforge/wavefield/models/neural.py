"""Shared pieces of the learned forecasters: POD coordinates, torch training loop, stable rollout.

The sequence models (LSTM, echo-state network, DeepONet) work on the leading ``rank`` POD coefficients
of the training rows, scaled to unit variance. Every learned model forecasts autoregressively one row
at a time; the rolled-out state's norm is capped at the largest norm seen in training, so an unstable
model saturates instead of overflowing (a NaN would still be scored -100, never hidden).
On reconstruction pairs these models return the rank-``rank`` POD projection of the noisy matrix.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from seisforge.wavefield.models.base import pod_basis


class PODSpace:
    """Per-channel mean, POD basis and a scalar scale fitted on the training matrices."""

    def __init__(self, mats: list[np.ndarray], rank: int) -> None:
        self.mean, self.basis = pod_basis(mats, rank)
        coefs = np.concatenate([(m - self.mean) @ self.basis for m in mats])
        self.scale = float(coefs.std()) or 1.0
        self.cap = float(np.linalg.norm(coefs / self.scale, axis=1).max())

    @property
    def rank(self) -> int:
        """Number of POD coefficients."""
        return self.basis.shape[1]

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Rows -> scaled POD coefficients."""
        return (x - self.mean) @ self.basis / self.scale

    def decode(self, c: np.ndarray) -> np.ndarray:
        """Scaled POD coefficients -> rows."""
        return (c * self.scale) @ self.basis.T + self.mean


def cap_norm(v: np.ndarray, cap: float) -> np.ndarray:
    """Scale ``v`` down to norm ``cap`` when it is larger."""
    n = float(np.linalg.norm(v))
    return v * (cap / n) if n > cap and np.isfinite(n) else v


def rollout(step: Callable[[np.ndarray], np.ndarray], history: np.ndarray, n_steps: int, cap: float) -> np.ndarray:
    """Autoregressive forecast: ``step(last window) -> next row``, the window slides by one each step."""
    hist = np.array(history, dtype=np.float64)
    out = np.empty((n_steps, hist.shape[1]))
    for t in range(n_steps):
        nxt = cap_norm(np.asarray(step(hist), dtype=np.float64), cap)
        out[t] = nxt
        hist = np.concatenate([hist[1:], nxt[None]], axis=0)
    return out


def torch_setup(seed: int) -> None:
    """Seed torch for a model fit."""
    import torch

    torch.manual_seed(seed)


class torch_threads:  # noqa: N801 - used like a function
    """Use ``$SEISFORGE_TORCH_THREADS`` intra-op threads (default 1) inside the block, then restore.

    These models are small; on a shared 2-core machine two intra-op threads made a training step
    60x slower than one (thread contention), so one thread is the default. The previous setting is
    restored so other work in the same process is unaffected.
    """

    def __enter__(self):
        import os

        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(int(os.environ.get("SEISFORGE_TORCH_THREADS", "1")))
        return self

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.before)
        return False


def train_torch(
    net, inputs, targets, epochs: int, lr: float, batch: int, seed: int, weight_decay: float = 0.0
) -> list[float]:
    """Minimise the MSE of ``net(inputs)`` against ``targets`` with Adam; returns per-epoch losses."""
    with torch_threads():
        return _train_torch(net, inputs, targets, epochs, lr, batch, seed, weight_decay)


def _train_torch(net, inputs, targets, epochs, lr, batch, seed, weight_decay) -> list[float]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    n = inputs.shape[0]
    losses = []
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(inputs[idx]), targets[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        losses.append(total / n)
    net.eval()
    return losses


class NeuralForecaster:
    """Mixin for the torch forecasters: reconstruction tasks use the POD baseline, forecasts the network.

    Subclasses implement ``fit_network(train, task)`` and ``forecast(task)``.
    """

    def fit(self, train: list[np.ndarray], task) -> None:
        super().fit(train, task)
        if task.kind == "reconstruction":
            return
        torch_setup(self.seed)
        self.fit_network(train, task)

    def predict(self, task) -> np.ndarray:
        from seisforge.wavefield.models.base import pod_reconstruct

        if task.kind == "reconstruction":
            return pod_reconstruct(self.train[0], self.config.rank)
        return self.forecast(task)
