"""Augmentations not in SeisBench, written in SeisBench's augmentation protocol.

Each is a callable taking the generator's ``state_dict`` (``{"X": (array, metadata), ...}``) and
modifying it in place, so they compose with ``seisbench.generate`` classes. They draw from NumPy's
global RNG, which :class:`seisforge.train.data.SeededGenerator` seeds per (seed, epoch, sample).
"""

from __future__ import annotations

import numpy as np


class AmplitudeJitter:
    """Multiply each component by an independent gain from ``[low, high]`` (log-uniform)."""

    def __init__(self, low: float = 0.5, high: float = 2.0, key: str = "X"):
        self.low, self.high, self.key = low, high, key

    def __call__(self, state_dict):
        x, meta = state_dict[self.key]
        gains = np.exp(np.random.uniform(np.log(self.low), np.log(self.high), size=(x.shape[0], 1)))
        state_dict[self.key] = (x * gains.astype(x.dtype), meta)

    def __str__(self):
        return f"AmplitudeJitter({self.low}, {self.high})"


class PolarityFlip:
    """Flip the sign of all components."""

    def __init__(self, key: str = "X"):
        self.key = key

    def __call__(self, state_dict):
        x, meta = state_dict[self.key]
        state_dict[self.key] = (-x, meta)

    def __str__(self):
        return "PolarityFlip()"


class TimeShift:
    """Shift waveforms and labels together by a random number of samples (circularly).

    Applied after labelling so that labels stay aligned; the wrapped-around part is real signal from
    the same window, not zeros.
    """

    def __init__(self, max_shift: int = 200, keys: tuple[str, ...] = ("X", "y")):
        self.max_shift, self.keys = max_shift, keys

    def __call__(self, state_dict):
        k = int(np.random.randint(-self.max_shift, self.max_shift + 1))
        for key in self.keys:
            if key in state_dict:
                x, meta = state_dict[key]
                state_dict[key] = (np.roll(x, k, axis=-1), meta)

    def __str__(self):
        return f"TimeShift({self.max_shift})"


class PoolNoise:
    """Add a noise window drawn from a screened noise pool (``seisforge data noise-pool``).

    The noise is scaled so that its peak is a random fraction in ``scale`` of the sample's peak,
    per component, like SeisBench's ``RealNoise``.
    """

    def __init__(self, pool, scale: tuple[float, float] = (0.0, 0.5), key: str = "X"):
        self.pool, self.scale, self.key = pool, scale, key

    def __call__(self, state_dict):
        x, meta = state_dict[self.key]
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        noise = self.pool.sample(rng, x.shape[-1]).astype(x.dtype)
        peak_x = np.max(np.abs(x), axis=-1, keepdims=True)
        peak_n = np.max(np.abs(noise), axis=-1, keepdims=True)
        peak_n[peak_n == 0] = 1
        f = np.random.uniform(*self.scale)
        state_dict[self.key] = (x + noise / peak_n * peak_x * f, meta)

    def __str__(self):
        return f"PoolNoise({len(self.pool)} windows, {self.scale})"
