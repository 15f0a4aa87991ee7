"""``prompt``: learned prompt tokens prepended to a patch transformer's input tokens (prompt tuning).

The tokens go into the encoder's ``prompt_tokens`` slot (``(n_prompts, d_model)``, small random init) and
are dropped from its output, so heads see the same number of tokens. Cost: ``n_prompts * d_model``.
Only a token encoder takes prompts: a conv encoder (PhaseNet) is a ConfigError. Not mergeable: the
prompts act through attention, which no weight of the base can absorb.
"""

from __future__ import annotations

import torch
from torch import nn

from seisforge.errors import ConfigError
from seisforge.models.adapt.common import Method, finish, start
from seisforge.models.adapt.config import AdaptConfig


def apply(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Add ``cfg.n_prompts`` learned prompt tokens to the model's token encoder, in place."""
    info = start(model, cfg)
    if info.parts.token_encoder is None:
        raise ConfigError(f"prompt tuning needs a token (transformer) encoder; {type(model).__name__} is a "
                          "conv model - use lora, dora, ia3, adapter, bitfit or partial instead")
    encoder = model.get_submodule(info.parts.token_encoder)
    ref = encoder.mask_token
    tokens = torch.randn(cfg.n_prompts, encoder.d_model, device=ref.device, dtype=ref.dtype) * 0.02
    encoder.prompt_tokens = nn.Parameter(tokens)
    return finish(model, info)


METHOD = Method("prompt", False, "prompt tokens and the head", apply)
