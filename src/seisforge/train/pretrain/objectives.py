"""Pretraining objectives: masked reconstruction (MAE) and contrastive InfoNCE, plus optional priors.

Written here rather than taken from a library because they are a few tensor operations on our own
encoders (no well-kept seismology SSL library fits the two encoder kinds); each piece is tested.

MAE
    The window is cut into patches of ``P`` samples (the transformer's own patches; ``mask_span`` spans
    for the conv encoder). ``mask_ratio`` of the whole patches of each window are masked: the transformer
    replaces their tokens by its learned mask token (its stem sees one patch per token, so nothing leaks),
    the conv encoder sees zeros there (the window mean after demeaning). A decoder predicts the patch
    values, a Linear from each token for the transformer, and for the conv encoder a light decoder from
    the bottleneck (1x1 conv, linear interpolation to the input length, a 7-tap conv). The loss is the mean
    squared error on masked patches only, against targets normalised per patch (mean 0, std 1).
Contrastive
    Two augmented views (:class:`~seisforge.train.pretrain.windows.ContrastiveViews`) are encoded and
    mean-pooled over time; a 2-layer projection maps them to unit vectors, and the symmetric InfoNCE loss
    with ``temperature`` treats the other view of the same window as the positive and every other window
    of the batch as a negative. The projection is dropped after pretraining.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seisforge.models.encoders import PatchTransformerEncoder


def features(encoder: nn.Module, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Encoder features channels-last ``(B, L, D)`` (transformer tokens or the conv bottleneck)."""
    if isinstance(encoder, PatchTransformerEncoder):
        return encoder(x, mask=mask)
    return encoder(x)[0].transpose(1, 2)


def feature_dim(encoder: nn.Module) -> int:
    """Width ``D`` of :func:`features`."""
    return encoder.d_model if isinstance(encoder, PatchTransformerEncoder) else int(encoder.out_channels)


def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, C, T)`` -> ``(B, T // patch, C * patch)``: whole patches, channel-major within a patch."""
    b, c, t = x.shape
    n = t // patch
    return x[..., : n * patch].reshape(b, c, n, patch).permute(0, 2, 1, 3).reshape(b, n, c * patch)


def normalise_targets(t: torch.Tensor, mode: str, channels: int) -> torch.Tensor:
    """Per-patch targets: ``patch`` (all values of a patch), ``patch_channel`` (each channel), ``none``."""
    if mode == "none":
        return t
    if mode == "patch_channel":
        b, n, _ = t.shape
        return normalise_targets(t.reshape(b, n * channels, -1), "patch", 1).reshape(b, n, -1)
    mean, var = t.mean(-1, keepdim=True), t.var(-1, keepdim=True, unbiased=False)
    return (t - mean) / (var + 1e-6).sqrt()


def random_mask(batch: int, n_patches: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """Bool ``(batch, n_patches)``: exactly ``max(1, round(ratio * n_patches))`` True per row."""
    k = max(1, min(n_patches - 1, round(ratio * n_patches))) if n_patches > 1 else 1
    order = torch.rand(batch, n_patches, generator=generator).argsort(dim=1)
    mask = torch.zeros(batch, n_patches, dtype=torch.bool)
    mask.scatter_(1, order[:, :k], True)
    return mask


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked patches only (``pred``/``target`` ``(B, N, V)``, mask ``(B, N)``)."""
    per_patch = (pred - target).pow(2).mean(-1)
    return (per_patch * mask).sum() / mask.sum().clamp(min=1)


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between matching rows of ``z1`` and ``z2`` ``(B, D)`` (normalised here)."""
    z1, z2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    logits = z1 @ z2.T / temperature
    labels = torch.arange(len(z1), device=z1.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


class ConvDecoder(nn.Module):
    """Light decoder from conv bottleneck features ``(B, D, L)`` to waveforms ``(B, C, T)``."""

    def __init__(self, dim: int, hidden: int, channels: int):
        super().__init__()
        self.inp = nn.Conv1d(dim, hidden, 1)
        self.out = nn.Conv1d(hidden, channels, 7, padding=3)

    def forward(self, feats: torch.Tensor, n_samples: int) -> torch.Tensor:
        h = F.gelu(self.inp(feats))
        return self.out(F.interpolate(h, size=n_samples, mode="linear", align_corners=False))


class MaeObjective(nn.Module):
    """Masked reconstruction around an encoder (see the module docstring).

    Parameters
    ----------
    encoder
        :class:`PatchTransformerEncoder` or :class:`PhaseNetEncoder`.
    channels
        Input channels ``C``.
    mask_ratio, target_norm
        Share of patches masked; target normalisation (:func:`normalise_targets`).
    mask_span, decoder_hidden
        Patch length and decoder width for the conv encoder.
    """

    def __init__(self, encoder: nn.Module, channels: int, mask_ratio: float, target_norm: str = "patch",
                 mask_span: int = 50, decoder_hidden: int = 32):
        super().__init__()
        self.encoder, self.channels = encoder, channels
        self.mask_ratio, self.target_norm = mask_ratio, target_norm
        if isinstance(encoder, PatchTransformerEncoder):
            self.patch = encoder.patch_samples
            self.decoder: nn.Module = nn.Linear(encoder.d_model, channels * self.patch)
        else:
            self.patch = mask_span
            self.decoder = ConvDecoder(feature_dim(encoder), decoder_hidden, channels)

    def reconstruct(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted patches ``(B, N, C * P)`` for the whole patches of ``x`` and the encoder features."""
        n = mask.shape[1]
        if isinstance(self.encoder, PatchTransformerEncoder):
            full = torch.zeros(x.shape[0], self.encoder.n_patches(x.shape[-1]), dtype=torch.bool, device=x.device)
            full[:, :n] = mask
            feats = features(self.encoder, x, full)
            return self.decoder(feats[:, :n]), feats
        keep = (~mask).repeat_interleave(self.patch, dim=1)
        keep = F.pad(keep, (0, x.shape[-1] - keep.shape[1]), value=True)
        feats = features(self.encoder, x * keep[:, None].to(x.dtype))
        return patchify(self.decoder(feats.transpose(1, 2), x.shape[-1]), self.patch), feats

    def forward(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, features)`` for windows ``x`` ``(B, C, T)`` with masks drawn from ``generator``."""
        target = normalise_targets(patchify(x, self.patch), self.target_norm, self.channels)
        mask = random_mask(x.shape[0], target.shape[1], self.mask_ratio, generator).to(x.device)
        pred, feats = self.reconstruct(x, mask)
        return masked_mse(pred, target, mask), feats


class ContrastiveObjective(nn.Module):
    """InfoNCE over mean-pooled encoder features of two views (see the module docstring)."""

    def __init__(self, encoder: nn.Module, proj_dim: int, temperature: float):
        super().__init__()
        dim = feature_dim(encoder)
        self.encoder, self.temperature = encoder, temperature
        self.proj = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, proj_dim))

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected pooled embedding ``(B, proj_dim)`` and the features of ``x``."""
        feats = features(self.encoder, x)
        return self.proj(feats.mean(dim=1)), feats

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, features of x1)``."""
        z1, feats = self.embed(x1)
        z2, _ = self.embed(x2)
        return info_nce(z1, z2, self.temperature), feats


def prior_term(kind: str, encoder: nn.Module, init: dict[str, torch.Tensor] | None,
               feats: torch.Tensor) -> torch.Tensor:
    """The unweighted prior: ``l2_to_init`` (sum of squared weight changes), ``smoothness`` (mean squared
    difference of adjacent features along time), ``none`` (0)."""
    if kind == "l2_to_init":
        return sum((p - init[n]).pow(2).sum() for n, p in encoder.named_parameters() if p.requires_grad)
    if kind == "smoothness":
        return (feats[:, 1:] - feats[:, :-1]).pow(2).mean() if feats.shape[1] > 1 else feats.sum() * 0
    return feats.sum() * 0


__all__ = ["ContrastiveObjective", "MaeObjective", "info_nce", "masked_mse",
           "normalise_targets", "patchify", "prior_term", "random_mask"]
