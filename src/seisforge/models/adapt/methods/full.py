"""``full``: every parameter trains (the reference all other methods are compared with)."""

from __future__ import annotations

from torch import nn

from seisforge.models.adapt.common import Method, finish, plain_merge, start
from seisforge.models.adapt.config import AdaptConfig


def apply(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Make every parameter trainable (the head per ``train_head``); BatchNorm statistics update."""
    info = start(model, cfg)
    for p in model.parameters():
        p.requires_grad_(True)
    return finish(model, info)


METHOD = Method("full", True, "every parameter", apply, plain_merge, changes_base=True)
