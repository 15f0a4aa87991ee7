"""DAS dataset: ocean swell along a seafloor fibre, as dispersive surface gravity waves.

The swell is a sum of ``components`` random-phase waves with frequencies drawn around a
Pierson-Moskowitz spectrum ``S(f) ~ f^-5 exp(-1.25 (f_p/f)^4)`` with peak ``f_p``. Each component
travels shoreward over the varying water depth ``h(x)`` (a smooth shelf ramp with random bumps) with the
local wavenumber from the linear dispersion relation ``w^2 = g k tanh(k h)`` (solved by Newton's
method), phase ``int k dx - w t`` (WKB) and shoaling amplitude ``A sqrt(c_g0 / c_g(x))``. The fibre
records axial strain, ``d(eta)/dx``, per channel. Instrument-like noise follows: per-channel coupling
gain, incoherent white noise and a common-mode (laser phase) term shared by all channels.

This is an analytic synthesis, not a time-stepping scheme, so the stability check is the sampling
condition: ``f_max < 1/(2 dt)`` in time and ``k_max dx < pi`` in space (the CFL analogue); both fail
with a clear message. The E11/E12 parameter is the peak frequency ``f_p`` in Hz.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seisforge.errors import ConfigError
from seisforge.wavefield.simulate.common import Family, sized

G = 9.81


@dataclass
class DasConfig:
    """Parameters of the DAS simulator (``None`` values come from the size)."""

    size: str = "small"
    channels: int | None = None
    channel_spacing_m: float = 4.0
    dt: float = 0.5
    components: int = 48
    depth_offshore_m: float = 120.0
    depth_shore_m: float = 15.0
    base_peak_hz: float = 0.10
    peaks_hz: tuple[float, float, float] = (0.08, 0.10, 0.12)
    interp_peak_hz: float = 0.09
    extrap_peak_hz: float = 0.14
    white_noise: float = 0.05
    common_mode: float = 0.03
    gain_spread: float = 0.1
    noise_medium: float = 0.2
    noise_high: float = 0.5


SIZES = {"tiny": 64, "small": 300, "paper": 3000}


def wavenumber(omega: np.ndarray, h: np.ndarray, iters: int = 30) -> np.ndarray:
    """Solve ``omega^2 = g k tanh(k h)`` for ``k`` (broadcasts ``omega`` against ``h``)."""
    omega = np.asarray(omega, dtype=float)
    h = np.asarray(h, dtype=float)
    k = np.maximum(omega**2 / G, omega / np.sqrt(G * h))  # deep / shallow water guesses
    for _ in range(iters):
        th = np.tanh(k * h)
        f = G * k * th - omega**2
        df = G * th + G * k * h * (1 - th**2)
        k = k - f / df
    return k


def group_velocity(omega: np.ndarray, k: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``c_g = (w/k)/2 * (1 + 2kh / sinh(2kh))``."""
    kh = np.minimum(k * h, 300.0)
    return 0.5 * omega / k * (1 + 2 * kh / np.sinh(2 * kh))


class DasSimulator:
    """Synthesises one DAS record per (peak frequency, variant); a :class:`.common.Simulator`."""

    def __init__(self, cfg: DasConfig, seed: int) -> None:
        channels = sized(SIZES, cfg.size)
        self.cfg = cfg
        self.channels = cfg.channels or channels
        self.x = np.arange(self.channels) * cfg.channel_spacing_m
        rng = np.random.default_rng([seed, 7])
        span = self.x[-1] if self.channels > 1 else 1.0
        ramp = 0.5 * (1 + np.tanh((self.x / span - 0.5) * 4))
        bumps = np.convolve(rng.standard_normal(self.channels), np.hanning(21) / np.hanning(21).sum(), "same")
        self.h = cfg.depth_offshore_m + (cfg.depth_shore_m - cfg.depth_offshore_m) * ramp
        self.h = np.maximum(self.h * (1 + 0.05 * bumps / (bumps.std() or 1.0)), 2.0)
        self.gain = 1 + cfg.gain_spread * rng.standard_normal(self.channels)
        self.seed = seed
        self.delta_t = cfg.dt
        self.family = Family(cfg.base_peak_hz, tuple(cfg.peaks_hz), cfg.interp_peak_hz, cfg.extrap_peak_hz)

    def _check_sampling(self, fmax: float) -> None:
        nyq = 0.5 / self.cfg.dt
        if fmax >= nyq:
            raise ConfigError(
                f"das simulator: sampling condition violated: highest swell frequency {fmax:.3f} Hz >= "
                f"Nyquist {nyq:.3f} Hz (dt={self.cfg.dt}); reduce dt"
            )
        kmax = float(wavenumber(2 * np.pi * fmax, self.h.min()))
        if kmax * self.cfg.channel_spacing_m >= np.pi:
            raise ConfigError(
                f"das simulator: spatial sampling condition violated: k_max*dx = "
                f"{kmax * self.cfg.channel_spacing_m:.3f} >= pi (shortest wavelength {2 * np.pi / kmax:.1f} m, "
                f"channel spacing {self.cfg.channel_spacing_m} m); reduce channel_spacing_m"
            )

    def run(self, peak_hz: float, variant: int, n_rows: int) -> np.ndarray:
        """Synthesise ``n_rows`` rows of axial strain for a swell with peak ``peak_hz``."""
        if peak_hz <= 0:
            raise ConfigError(f"das: peak frequency must be positive, got {peak_hz}")
        rng = np.random.default_rng([self.seed, variant, int(round(peak_hz * 1e6))])
        f = peak_hz * rng.uniform(0.7, 1.8, size=self.cfg.components)
        self._check_sampling(float(f.max()))
        spec = f**-5 * np.exp(-1.25 * (peak_hz / f) ** 4)
        amp = np.sqrt(spec / spec.sum())
        phase0 = rng.uniform(0, 2 * np.pi, size=f.size)
        t = np.arange(n_rows) * self.cfg.dt + variant * 10_000.0
        dx = self.cfg.channel_spacing_m
        out = np.zeros((n_rows, self.channels))
        for fi, ai, p0 in zip(f, amp, phase0):
            w = 2 * np.pi * fi
            k = wavenumber(w, self.h)
            cg = group_velocity(w, k, self.h)
            a_x = ai * np.sqrt(cg[0] / cg)
            kint = np.concatenate([[0.0], np.cumsum(0.5 * (k[1:] + k[:-1]) * dx)])
            # strain = d/dx [a cos(kint - w t + p0)] ~ -a k sin(...) (WKB, slowly varying a)
            out -= (a_x * k)[None, :] * np.sin(kint[None, :] - w * t[:, None] + p0)
        scale = out.std() or 1.0
        out = out * self.gain[None, :]
        out += scale * self.cfg.white_noise * rng.standard_normal(out.shape)
        out += scale * self.cfg.common_mode * np.cumsum(rng.standard_normal(n_rows))[:, None] / np.sqrt(n_rows)
        return out

    def provenance(self) -> dict[str, Any]:
        """Channels, sampling, the water-depth range and the parameter."""
        return {
            "channels": self.channels, "channel_spacing_m": self.cfg.channel_spacing_m, "dt_s": self.cfg.dt,
            "depth_range_m": [float(self.h.min()), float(self.h.max())], "parameter": "swell peak frequency (Hz)",
        }

    def cell_updates_per_row(self) -> int:
        """One (channel, wave component) term per channel and component."""
        return self.channels * self.cfg.components
