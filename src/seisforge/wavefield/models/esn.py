"""Echo-state network (reservoir computing) on POD coefficients, ridge-regression readout (NumPy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seisforge.errors import DataError
from seisforge.wavefield.models.base import Task, WavefieldModel, pod_reconstruct
from seisforge.wavefield.models.neural import PODSpace, cap_norm


@dataclass
class ESNConfig:
    """Reservoir hyper-parameters."""

    rank: int = 32
    reservoir: int = 400
    spectral_radius: float = 0.9
    leak: float = 0.5
    input_scale: float = 0.5
    density: float = 0.05
    ridge: float = 1e-4
    washout: int = 10


class ESNModel(WavefieldModel):
    """Leaky-tanh reservoir driven by the coefficients; the readout predicts the next coefficients."""

    name = "esn"
    Config = ESNConfig

    def _init_reservoir(self, r: int) -> None:
        cfg = self.config
        rng = np.random.default_rng(self.seed)
        w = rng.standard_normal((cfg.reservoir, cfg.reservoir)) * (rng.random((cfg.reservoir,) * 2) < cfg.density)
        rho = float(np.max(np.abs(np.linalg.eigvals(w)))) or 1.0
        self.w = w * (cfg.spectral_radius / rho)
        self.w_in = rng.uniform(-cfg.input_scale, cfg.input_scale, (cfg.reservoir, r + 1))

    def _drive(self, coefs: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        a = self.config.leak
        s = np.zeros(self.w.shape[0]) if state is None else state
        states = np.empty((coefs.shape[0], s.size))
        for t, c in enumerate(coefs):
            s = (1 - a) * s + a * np.tanh(self.w @ s + self.w_in @ np.append(c, 1.0))
            states[t] = s
        return states, s

    def _features(self, states: np.ndarray, coefs: np.ndarray) -> np.ndarray:
        return np.concatenate([states, coefs, np.ones((coefs.shape[0], 1))], axis=1)

    def fit(self, train: list[np.ndarray], task: Task) -> None:
        super().fit(train, task)
        if task.kind == "reconstruction":
            return
        cfg = self.config
        self.pod = PODSpace(self.train, cfg.rank)
        self._init_reservoir(self.pod.rank)
        feats, targets = [], []
        for m in self.train:
            c = self.pod.encode(m)
            if c.shape[0] <= cfg.washout + 1:
                continue
            states, _ = self._drive(c[:-1])
            feats.append(self._features(states, c[:-1])[cfg.washout :])
            targets.append(c[1:][cfg.washout :])
        if not feats:
            raise DataError(f"esn: training matrices shorter than washout+2 = {cfg.washout + 2} rows")
        f, y = np.concatenate(feats), np.concatenate(targets)
        self.w_out = np.linalg.solve(f.T @ f + cfg.ridge * np.eye(f.shape[1]), f.T @ y)

    def predict(self, task: Task) -> np.ndarray:
        if task.kind == "reconstruction":
            return pod_reconstruct(self.train[0], self.config.rank)
        c = self.pod.encode(self.context(task))
        _, s = self._drive(c)
        last = c[-1]
        out = np.empty((task.n_steps, last.size))
        a = self.config.leak
        for t in range(task.n_steps):
            nxt = cap_norm(self._features(s[None], last[None])[0] @ self.w_out, self.pod.cap)
            out[t] = nxt
            s = (1 - a) * s + a * np.tanh(self.w @ s + self.w_in @ np.append(nxt, 1.0))
            last = nxt
        return self.pod.decode(out)
