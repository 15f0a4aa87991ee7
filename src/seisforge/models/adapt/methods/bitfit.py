"""``bitfit``: only the body's bias terms (Linear, Conv, norm biases) and the head train (BitFit)."""

from __future__ import annotations

from torch import nn

from seisforge.models.adapt.common import Method, finish, plain_merge, start
from seisforge.models.adapt.config import AdaptConfig


def apply(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Unfreeze every parameter named ``bias``; BatchNorm statistics stay frozen (their weight is)."""
    info = start(model, cfg)
    for name, p in model.named_parameters():
        if name.rpartition(".")[2] == "bias":
            p.requires_grad_(True)
    return finish(model, info)


METHOD = Method("bitfit", True, "bias terms of the body and the head", apply, plain_merge,
                changes_base=True)
