"""A transformer encoder over fixed, non-overlapping waveform patches ("hard tokenisation").

The input ``(B, C, T)`` is cut into ``N = ceil(T / patch_samples)`` patches of ``patch_samples`` samples of
all ``C`` channels (the end is zero-padded to a whole patch; after PhaseNet-style demeaning zero is the
window mean). Each patch becomes one token through a stem that sees that patch only, so a masked patch
cannot leak into its neighbours' tokens during masked reconstruction. Fixed sinusoidal positions are added
(no learned position table, so any length up to ``max_patches`` patches works), then ``depth`` pre-norm
blocks and a final LayerNorm.

Every weight matrix is an ``nn.Linear`` (``attn.qkv``, ``attn.proj``, ``mlp.fc1``, ``mlp.fc2``) or, for the
conv stem, an ``nn.Conv1d``, because PEFT's LoRA wraps modules of those types by name, and
``nn.MultiheadAttention``'s packed input projection is not a module it can target.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seisforge.errors import ConfigError

STEMS = ("linear", "conv")


class Attention(nn.Module):
    """Multi-head self-attention with a packed ``qkv`` Linear and an output ``proj`` Linear.

    Parameters
    ----------
    d_model
        Token width.
    n_heads
        Number of heads; must divide ``d_model``.
    dropout
        Dropout on the attention weights and after ``proj`` (training only).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over all tokens of ``x`` ``(B, N, D)``; returns ``(B, N, D)``."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, d)))


class Mlp(nn.Module):
    """``fc1`` -> GELU -> ``fc2`` feed-forward block with dropout after each Linear."""

    def __init__(self, d_model: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(d_model, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``x`` ``(..., D)``."""
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, n_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = Mlp(d_model, int(round(d_model * mlp_ratio)), dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to tokens ``(B, N, D)``."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ConvStem(nn.Module):
    """Conv1d stem with total stride ``patch_samples``: each output token sees its own patch only.

    ``conv1`` (kernel = stride = patch) embeds each patch to ``d_model // 2`` features, GELU, then
    ``conv2`` (kernel 1) mixes them to ``d_model``.
    """

    def __init__(self, in_channels: int, patch_samples: int, d_model: int):
        super().__init__()
        hidden = max(d_model // 2, 1)
        self.conv1 = nn.Conv1d(in_channels, hidden, patch_samples, stride=patch_samples)
        self.act = nn.GELU()
        self.conv2 = nn.Conv1d(hidden, d_model, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed ``x`` ``(B, C, N * patch)`` to tokens ``(B, N, D)``."""
        return self.conv2(self.act(self.conv1(x))).transpose(1, 2)


class LinearStem(nn.Module):
    """Linear stem over each patch's flattened ``C * patch_samples`` values (channel-major)."""

    def __init__(self, in_channels: int, patch_samples: int, d_model: int):
        super().__init__()
        self.patch_samples = patch_samples
        self.proj = nn.Linear(in_channels * patch_samples, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed ``x`` ``(B, C, N * patch)`` to tokens ``(B, N, D)``."""
        b, c, t = x.shape
        patches = x.reshape(b, c, t // self.patch_samples, self.patch_samples).transpose(1, 2)
        return self.proj(patches.reshape(b, t // self.patch_samples, c * self.patch_samples))


def sinusoidal_positions(n: int, d_model: int) -> torch.Tensor:
    """The fixed sine/cosine position table ``(n, d_model)`` of Vaswani et al. (2017)."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(n, d_model)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : d_model // 2]
    return table


class PatchTransformerEncoder(nn.Module):
    """Transformer encoder over hard waveform patches.

    Parameters
    ----------
    in_channels
        Input components (3, or 4 with an ocean-bottom hydrophone).
    patch_samples
        Samples per patch (50 = 0.5 s at 100 Hz).
    d_model, depth, n_heads, mlp_ratio, dropout
        Token width, number of blocks, attention heads, MLP hidden width / ``d_model``, dropout.
    stem
        ``"linear"`` (one Linear over the flattened patch) or ``"conv"`` (:class:`ConvStem`).
    max_patches
        Longest input in patches (size of the fixed position table).

    Attributes
    ----------
    blocks : nn.ModuleList
        The transformer blocks in forward order ("top k blocks" adaptation takes the last k).
    mask_token : nn.Parameter
        Replaces the embedding of masked patches (masked reconstruction).
    prompt_tokens : nn.Parameter or None
        Learned prompt tokens ``(P, D)``, set by prompt tuning; None (no parameter) otherwise.
    """

    def __init__(self, in_channels: int = 3, patch_samples: int = 50, d_model: int = 64, depth: int = 4,
                 n_heads: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.0, stem: str = "linear",
                 max_patches: int = 512):
        super().__init__()
        _check_config(in_channels, patch_samples, d_model, depth, n_heads, stem, max_patches)
        self.in_channels, self.patch_samples, self.d_model = in_channels, patch_samples, d_model
        self.depth, self.n_heads, self.mlp_ratio, self.dropout = depth, n_heads, mlp_ratio, dropout
        self.stem_kind, self.max_patches = stem, max_patches
        stem_cls = LinearStem if stem == "linear" else ConvStem
        self.stem = stem_cls(in_channels, patch_samples, d_model)
        self.mask_token = nn.Parameter(torch.zeros(d_model))
        nn.init.normal_(self.mask_token, std=0.02)
        self.register_buffer("positions", sinusoidal_positions(max_patches, d_model), persistent=False)
        self.register_parameter("prompt_tokens", None)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(d_model)

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this encoder (weights aside)."""
        return {"in_channels": self.in_channels, "patch_samples": self.patch_samples,
                "d_model": self.d_model, "depth": self.depth, "n_heads": self.n_heads,
                "mlp_ratio": self.mlp_ratio, "dropout": self.dropout, "stem": self.stem_kind,
                "max_patches": self.max_patches}

    def n_patches(self, n_samples: int) -> int:
        """Number of tokens for an input of ``n_samples`` samples."""
        return -(-n_samples // self.patch_samples)

    def embed(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Patch embeddings ``(B, N, D)`` with masked patches replaced and positions added."""
        n = self.n_patches(x.shape[-1])
        if n > self.max_patches:
            raise ConfigError(f"input of {x.shape[-1]} samples gives {n} patches; max_patches is "
                              f"{self.max_patches}")
        x = F.pad(x, (0, n * self.patch_samples - x.shape[-1]))
        tokens = self.stem(x)
        if mask is not None:
            tokens = torch.where(mask[..., None], self.mask_token.to(tokens.dtype), tokens)
        return self.drop(tokens + self.positions[:n].to(tokens.dtype))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                prompt: torch.Tensor | None = None) -> torch.Tensor:
        """Encode waveforms to tokens.

        Parameters
        ----------
        x
            Waveforms ``(B, C, T)``.
        mask
            Optional bool ``(B, N)``: True patches are replaced by ``mask_token``.
        prompt
            Optional prompt tokens ``(P, D)`` or ``(B, P, D)`` prepended to the sequence (no position);
            defaults to ``prompt_tokens`` when set. They are dropped from the output.

        Returns
        -------
        torch.Tensor
            Tokens ``(B, N, D)``, one per patch.
        """
        tokens = self.embed(x, mask)
        prompt = self.prompt_tokens if prompt is None else prompt
        n_prompt = 0
        if prompt is not None:
            prompt = prompt.expand(tokens.shape[0], -1, -1) if prompt.dim() == 2 else prompt
            n_prompt = prompt.shape[1]
            tokens = torch.cat([prompt.to(tokens.dtype), tokens], dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, n_prompt:]


def _check_config(in_channels: int, patch_samples: int, d_model: int, depth: int, n_heads: int,
                  stem: str, max_patches: int) -> None:
    """Raise ConfigError naming the first bad encoder setting."""
    for name, value in (("in_channels", in_channels), ("patch_samples", patch_samples),
                        ("d_model", d_model), ("depth", depth), ("n_heads", n_heads),
                        ("max_patches", max_patches)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if d_model % n_heads or d_model % 2:
        raise ConfigError(f"d_model ({d_model}) must be even and divisible by n_heads ({n_heads})")
    if stem not in STEMS:
        raise ConfigError(f"stem must be one of {', '.join(STEMS)}, got {stem!r}")
