"""``adapter``: bottleneck residual adapters after each transformer block or conv block (Houlsby-style).

Each adapter is ``y + up(drop(GELU(down(y))))`` on the output ``y`` of its site, with ``up`` initialised
to zero so the model starts unchanged. Sites come from :func:`~seisforge.models.encoders.parts.model_parts`:
every block of a patch transformer (Linear down/up on the token axis), every conv + BatchNorm unit of a
conv model (1x1 Conv1d down/up on the channel axis, before the activation). Cost per site of width ``d``:
``2 * d * bottleneck + bottleneck + d``. Not mergeable: the GELU between the projections makes the
adapter non-linear, so it cannot be folded into the frozen weights.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from seisforge.models.adapt.common import Method, finish, replace_module, start
from seisforge.models.adapt.config import AdaptConfig


class BottleneckAdapter(nn.Module):
    """``down`` -> GELU -> dropout -> ``up`` (zero-initialised), on channel axis -1 or 1.

    Parameters
    ----------
    dim
        Feature width.
    bottleneck
        Hidden width.
    channel_axis
        -1 for ``(B, N, D)`` tokens (Linear projections), 1 for ``(B, C, L)`` features (1x1 Conv1d).
    dropout
        Dropout between the projections.
    """

    def __init__(self, dim: int, bottleneck: int, channel_axis: int = -1, dropout: float = 0.0):
        super().__init__()
        make = nn.Linear if channel_axis == -1 else (lambda a, b: nn.Conv1d(a, b, 1))
        self.down = make(dim, bottleneck)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.up = make(bottleneck, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """The residual update for ``y``."""
        return self.up(self.drop(self.act(self.down(y))))


class AdapterWrapped(nn.Module):
    """``base_layer`` followed by a residual :class:`BottleneckAdapter` on its output."""

    def __init__(self, base_layer: nn.Module, adapter: BottleneckAdapter):
        super().__init__()
        self.base_layer, self.adapter = base_layer, adapter

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """``y + adapter(y)`` with ``y = base_layer(*args, **kwargs)``."""
        y = self.base_layer(*args, **kwargs)
        return y + self.adapter(y)


def apply(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Wrap every adapter site of the model, in place."""
    info = start(model, cfg)
    for site in info.parts.adapter_sites:
        base = model.get_submodule(site.name)
        ref = next(base.parameters(), None)
        adapter = BottleneckAdapter(site.dim, cfg.bottleneck, site.channel_axis, cfg.dropout)
        if ref is not None:
            adapter.to(device=ref.device, dtype=ref.dtype)
        replace_module(model, site.name, AdapterWrapped(base, adapter))
    return finish(model, info)


METHOD = Method("adapter", False, "bottleneck adapters after each block and the head", apply)
