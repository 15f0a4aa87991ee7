"""``linear_probe``: the encoder (body) frozen, only the task head trains."""

from __future__ import annotations

from torch import nn

from seisforge.errors import ConfigError
from seisforge.models.adapt.common import Method, finish, plain_merge, start
from seisforge.models.adapt.config import AdaptConfig


def apply(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Freeze the body; the head trains (``train_head`` must be True)."""
    if not cfg.train_head:
        raise ConfigError("linear_probe trains the head only; train_head=False leaves nothing to train")
    return finish(model, start(model, cfg))


METHOD = Method("linear_probe", True, "the head only", apply, plain_merge)
