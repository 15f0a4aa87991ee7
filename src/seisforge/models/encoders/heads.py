"""Task heads on top of an encoder: phase picking, event/noise detection, magnitude regression.

Picking with the transformer encoder uses :class:`TokenPickingHead` (each token predicts its own patch's
samples). Picking with the PhaseNet encoder needs no new head: the PhaseNet decoder half is the picking
head, i.e. the SeisBench PhaseNet itself is adapted (see :func:`seisforge.models.encoders.parts.model_parts`,
where its 1x1 ``out`` layer is the task head). Detection and magnitude pool the encoder features over time.
"""

from __future__ import annotations

import torch
from torch import nn

from seisforge.errors import ConfigError


class TokenPickingHead(nn.Module):
    """Per-sample class logits from patch tokens.

    A Linear maps each token to ``patch_samples * classes`` logits, which are laid out along time and cut
    to the input length; an optional depthwise convolution smooths across patch borders.

    Parameters
    ----------
    d_model
        Token width.
    patch_samples
        Samples per patch (as in the encoder).
    classes
        Output classes (3: P, S, noise in the picker's label order).
    smooth_kernel
        Odd kernel of the per-class smoothing convolution; 0 for none.
    """

    def __init__(self, d_model: int, patch_samples: int, classes: int = 3, smooth_kernel: int = 0):
        super().__init__()
        if smooth_kernel < 0 or (smooth_kernel and smooth_kernel % 2 == 0):
            raise ConfigError(f"smooth_kernel must be 0 or odd and positive, got {smooth_kernel}")
        self.patch_samples, self.classes = patch_samples, classes
        self.proj = nn.Linear(d_model, patch_samples * classes)
        self.smooth = (nn.Conv1d(classes, classes, smooth_kernel, padding=smooth_kernel // 2, groups=classes)
                       if smooth_kernel else None)

    def forward(self, tokens: torch.Tensor, n_samples: int) -> torch.Tensor:
        """Logits ``(B, classes, n_samples)`` from tokens ``(B, N, D)``."""
        b, n, _ = tokens.shape
        logits = self.proj(tokens).reshape(b, n, self.patch_samples, self.classes)
        logits = logits.permute(0, 3, 1, 2).reshape(b, self.classes, n * self.patch_samples)
        if self.smooth is not None:
            logits = self.smooth(logits)
        return logits[..., :n_samples]


class PooledHead(nn.Module):
    """Mean-pool features over time, LayerNorm, Linear to ``n_out`` values.

    Parameters
    ----------
    dim
        Feature width (``d_model`` of tokens, or channels of conv features).
    n_out
        Output values.
    channels_last
        True for tokens ``(B, N, D)``, False for conv features ``(B, C, L)``.
    """

    def __init__(self, dim: int, n_out: int, channels_last: bool = True):
        super().__init__()
        self.channels_last = channels_last
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, n_out)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Values ``(B, n_out)``."""
        pooled = features.mean(dim=1 if self.channels_last else -1)
        return self.proj(self.norm(pooled))


class DetectionHead(PooledHead):
    """Event/noise detection: 2 logits per window (index 0 event, 1 noise)."""

    def __init__(self, dim: int, channels_last: bool = True):
        super().__init__(dim, 2, channels_last)


class MagnitudeHead(PooledHead):
    """Magnitude regression: one value per window, shape ``(B,)``.

    The Linear predicts a standardised magnitude, returned as ``offset + scale * value``: with the train
    split's mean and standard deviation as ``offset`` and ``scale`` (set by ``seisforge adapt`` and stored
    with the run), a freshly initialised head starts near the mean magnitude instead of near 0, so a few
    hundred steps suffice. They are plain attributes, not tensors: they are data statistics, not weights.
    ``extra`` more inputs (the log amplitudes of :class:`~seisforge.models.encoders.pickers.EncoderTaskModel`
    with ``amplitude_features``) are standardised by a BatchNorm (its statistics train with the head and
    are saved with it) and concatenated to the normalised pooled features before the Linear.
    """

    def __init__(self, dim: int, channels_last: bool = True, offset: float = 0.0, scale: float = 1.0,
                 extra: int = 0):
        super().__init__(dim, 1, channels_last)
        if not scale > 0:
            raise ConfigError(f"MagnitudeHead scale must be > 0, got {scale!r}")
        self.offset, self.scale, self.extra = float(offset), float(scale), int(extra)
        if extra:  # log amplitudes sit far from 0 with their own spread: a BatchNorm standardises them
            self.extra_norm = nn.BatchNorm1d(extra)
            self.proj = nn.Linear(dim + extra, 1)

    def forward(self, features: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """Magnitudes ``(B,)`` (``extra``: ``(B, extra)`` values when the head takes them)."""
        pooled = self.norm(features.mean(dim=1 if self.channels_last else -1))
        if self.extra:
            if extra is None or extra.shape[-1] != self.extra:
                raise ConfigError(f"MagnitudeHead expects {self.extra} extra inputs")
            pooled = torch.cat([pooled, self.extra_norm(extra.to(pooled.dtype))], dim=-1)
        return self.offset + self.scale * self.proj(pooled)[:, 0]
