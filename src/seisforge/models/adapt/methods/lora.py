"""``lora`` and ``dora``: low-rank updates of the body's Linear and Conv1d layers through PEFT.

Why ``peft.inject_adapter_in_model`` and not ``get_peft_model``: injection changes the model in place and
returns the same object, so an :class:`~seisforge.models.encoders.pickers.EncoderPicker` or a SeisBench
PhaseNet stays a SeisBench ``WaveformModel`` (``annotate``, ``classify``, ``save`` keep working) and
parameter names change only by PEFT's ``base_layer``/``lora_*`` segments; ``get_peft_model`` would wrap
it in a ``PeftModel`` whose ``base_model.model.`` prefixes and attribute forwarding every caller would
have to know. The price is that no PEFT tuner object is kept, so :func:`merge` walks the PEFT layers
itself: each layer's own ``merge()``, then its ``get_base_layer()`` put back in its place - the same two
steps as PEFT's ``merge_and_unload``.

Layers PEFT cannot wrap: PEFT's LoRA supports ``nn.Conv1d`` (since 0.15) but not ``nn.ConvTranspose1d``
(PhaseNet's up-sampling layers, PhaseNetLight's ``out``). Targeted layers of such types are left frozen,
not wrapped, and counted in the accounting (``ParamAccount.unwrapped``).

Parameter cost per wrapped layer with rank ``r``: ``r * (in + out)`` for ``Linear(in, out)``,
``r * (in * k + out)`` for ``Conv1d(in, out, k)``; DoRA adds a magnitude vector of ``out`` values.
"""

from __future__ import annotations

import peft
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from seisforge.models.adapt.common import Method, finish, release, replace_module, resolve_targets, start
from seisforge.models.adapt.config import AdaptConfig

SUPPORTED = (nn.Linear, nn.Conv1d)


def apply(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Wrap the targeted body layers with LoRA (DoRA when ``cfg.method == "dora"``) in place."""
    info = start(model, cfg)
    targets = resolve_targets(model, info, SUPPORTED)
    config = peft.LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                             target_modules=targets, use_dora=cfg.method == "dora", bias="none")
    model = peft.inject_adapter_in_model(config, model)
    return finish(model, info)


def merge(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Fold every LoRA/DoRA update into its base layer and restore the plain layers, in place."""
    outer = [name for name, mod in model.named_modules() if isinstance(mod, BaseTunerLayer)]
    outer = [n for n in outer if not any(n.startswith(o + ".") for o in outer)]
    for name in outer:
        layer = model.get_submodule(name)
        layer.merge()
        replace_module(model, name, layer.get_base_layer())
    if hasattr(model, "peft_config"):
        del model.peft_config
    return release(model)


METHOD = Method("lora", True, "low-rank A/B of the targeted body layers and the head", apply, merge)
