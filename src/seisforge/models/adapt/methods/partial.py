"""``partial``: the top ``top_k`` body blocks (and any final norm above them) and the head train."""

from __future__ import annotations

from torch import nn

from seisforge.errors import ConfigError
from seisforge.models.adapt.common import Method, finish, plain_merge, start
from seisforge.models.adapt.config import AdaptConfig


def apply(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Unfreeze the last ``top_k`` blocks in forward order and the modules after them.

    For a SeisBench PhaseNet the blocks are the down blocks then the up blocks, so the top blocks are
    the decoder blocks nearest the output (see :mod:`seisforge.models.encoders.parts`).
    """
    info = start(model, cfg)
    blocks = info.parts.blocks
    if cfg.top_k > len(blocks):
        raise ConfigError(f"AdaptConfig.top_k={cfg.top_k} but the model has {len(blocks)} blocks")
    names = [name for block in blocks[len(blocks) - cfg.top_k:] for name in block]
    for name in names + list(info.parts.after_blocks):
        for p in model.get_submodule(name).parameters():
            p.requires_grad_(True)
    return finish(model, info)


METHOD = Method("partial", True, "the top k body blocks and the head", apply, plain_merge,
                changes_base=True)
