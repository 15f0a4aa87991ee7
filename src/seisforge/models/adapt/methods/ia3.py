"""``ia3``: a learned scale per output channel after each targeted Linear/Conv1d (IA3, Liu et al. 2022).

PEFT's IA3 does not wrap Conv1d, so this is a small module of our own: :class:`IA3Layer` multiplies the
layer output by a vector initialised to ones (the model starts unchanged). Because
``scale * (W x + b) = (scale * W) x + scale * b`` row by row, it is mergeable: :func:`merge` scales the
weight's output rows and the bias and puts the plain layer back. Cost: ``out`` values per targeted layer.
Layers of other types (ConvTranspose1d) are left frozen and counted as not wrapped.
"""

from __future__ import annotations

import torch
from torch import nn

from seisforge.models.adapt.common import Method, finish, release, replace_module, resolve_targets, start
from seisforge.models.adapt.config import AdaptConfig

SUPPORTED = (nn.Linear, nn.Conv1d)


class IA3Layer(nn.Module):
    """``base_layer(x) * ia3_scale`` with the scale broadcast over the output channel axis.

    Parameters
    ----------
    base_layer
        An ``nn.Linear`` (channels last) or ``nn.Conv1d`` (channels on axis 1).
    """

    def __init__(self, base_layer: nn.Module):
        super().__init__()
        self.base_layer = base_layer
        out = base_layer.out_features if isinstance(base_layer, nn.Linear) else base_layer.out_channels
        weight = base_layer.weight
        self.ia3_scale = nn.Parameter(torch.ones(out, dtype=weight.dtype, device=weight.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled output of the base layer."""
        y = self.base_layer(x)
        return y * (self.ia3_scale if isinstance(self.base_layer, nn.Linear) else self.ia3_scale[:, None])

    @torch.no_grad()
    def merged(self) -> nn.Module:
        """The base layer with the scale folded into its weight rows and bias."""
        base = self.base_layer
        base.weight.mul_(self.ia3_scale.reshape(-1, *([1] * (base.weight.dim() - 1))))
        if base.bias is not None:
            base.bias.mul_(self.ia3_scale)
        return base


def apply(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Wrap every targeted body Linear/Conv1d in an :class:`IA3Layer`, in place."""
    info = start(model, cfg)
    for name in resolve_targets(model, info, SUPPORTED):
        replace_module(model, name, IA3Layer(model.get_submodule(name)))
    return finish(model, info)


def merge(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Fold every IA3 scale into its layer and restore the plain layers, in place."""
    for name in [n for n, m in model.named_modules() if isinstance(m, IA3Layer)]:
        replace_module(model, name, model.get_submodule(name).merged())
    return release(model)


METHOD = Method("ia3", True, "one scale per output channel of the targeted body layers, and the head",
                apply, merge)
