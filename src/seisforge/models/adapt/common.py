"""Helpers shared by the adaptation methods: freezing, the head, targets, frozen norm statistics.

Frozen BatchNorm statistics
---------------------------
A BatchNorm layer in training mode overwrites its running mean and variance on every batch even when its
parameters are frozen, which would silently change the "frozen" base and make a saved adapter depend on
statistics it does not contain. So every BatchNorm whose ``weight`` is frozen (or that has no affine
parameters and sits in a frozen part) keeps eval behaviour while training: it normalises with its stored
statistics and never updates them. Its ``train`` method is overridden on the instance to keep it in eval
mode, because ``model.train()`` would otherwise switch it back; :func:`release` removes the override. BatchNorms that train (``full``, the blocks of ``partial``) update their
statistics, and those buffers are saved with the adapter (:func:`adapter_state`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from seisforge.errors import ConfigError
from seisforge.models.adapt.config import AdaptConfig
from seisforge.models.encoders.parts import ModelParts, model_parts

#: attribute under which ``apply`` records what it did (read by accounting, io and merge)
INFO_ATTR = "seisforge_adaptation"
#: flag attribute on BatchNorm modules whose statistics are frozen
FROZEN_STATS_ATTR = "seisforge_frozen_stats"
#: layer types that hold weights; those a method cannot wrap are left frozen and reported
WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                 nn.ConvTranspose3d)
#: BatchNorm layer types (running statistics)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@dataclass(frozen=True)
class Method:
    """One adaptation method.

    Attributes
    ----------
    name
        The ``AdaptConfig.method`` value.
    mergeable
        Whether :attr:`merge` folds it into a plain model with the original module structure.
    trains
        What trains, in words (docs and accounting).
    apply
        ``apply(model, cfg) -> model``: freezes and wraps ``model`` in place.
    merge
        ``merge(model, cfg) -> model``: folds the method into plain weights in place; None when the method
        is not mergeable.
    changes_base
        Whether training changes base (body) weights in place (full, partial, bitfit); for the others the
        frozen body still hashes to the base's hash after adaptation.
    """

    name: str
    mergeable: bool
    trains: str
    apply: Callable[[nn.Module, AdaptConfig], nn.Module]
    merge: Callable[[nn.Module, AdaptConfig], nn.Module] | None = None
    changes_base: bool = False


@dataclass
class AdaptInfo:
    """What ``apply`` did to a model (stored on it as :data:`INFO_ATTR`).

    Attributes
    ----------
    cfg
        The configuration applied.
    parts
        The model's layout before adaptation.
    base_params
        Parameters of the model before the method added any.
    unwrapped
        ``{module name: parameter count}`` of targeted weight layers the method could not wrap (left
        frozen), e.g. ConvTranspose1d under LoRA.
    """

    cfg: AdaptConfig
    parts: ModelParts
    base_params: int
    unwrapped: dict[str, int] = field(default_factory=dict)


def start(model: nn.Module, cfg: AdaptConfig) -> AdaptInfo:
    """Check ``model`` is not adapted yet, record its layout and size, and freeze every parameter."""
    if hasattr(model, INFO_ATTR):
        done = getattr(model, INFO_ATTR).cfg.method
        raise ConfigError(f"model is already adapted with {done!r}; start from a fresh base model")
    info = AdaptInfo(cfg, model_parts(model), count_params(model))
    for p in model.parameters():
        p.requires_grad_(False)
    return info


def finish(model: nn.Module, info: AdaptInfo) -> nn.Module:
    """Make the head trainable per ``train_head``, freeze frozen norms' statistics, record ``info``."""
    for name, p in model.named_parameters():
        if info.parts.in_head(name):
            p.requires_grad_(info.cfg.train_head)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(f"{info.cfg.method} with train_head=False leaves nothing to train")
    freeze_norm_stats(model)
    setattr(model, INFO_ATTR, info)
    return model


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (each shared parameter once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _train_frozen_stats(self: nn.Module, mode: bool = True) -> nn.Module:
    """``train()`` of a BatchNorm with frozen statistics: it stays in eval mode."""
    self.training = False
    return self


def freeze_norm_stats(model: nn.Module) -> None:
    """Freeze the statistics of every BatchNorm whose weight is frozen (see module docstring)."""
    for module in model.modules():
        if isinstance(module, BATCH_NORMS):
            frozen = module.weight is None or not module.weight.requires_grad
            setattr(module, FROZEN_STATS_ATTR, frozen)
            if frozen:
                module.train = functools.partial(_train_frozen_stats, module)  # picklable, unlike a bound method
                module.training = False


def release(model: nn.Module) -> nn.Module:
    """Undo the bookkeeping of ``apply``: a plain model, every parameter trainable, norms normal."""
    for module in model.modules():
        if hasattr(module, FROZEN_STATS_ATTR):
            delattr(module, FROZEN_STATS_ATTR)
            module.__dict__.pop("train", None)
    model.train(model.training)
    for p in model.parameters():
        p.requires_grad_(True)
    if hasattr(model, INFO_ATTR):
        delattr(model, INFO_ATTR)
    return model


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors an adapter file holds: trainable parameters and statistics of training BatchNorms."""
    state = {name: p for name, p in model.named_parameters() if p.requires_grad}
    for name, module in model.named_modules():
        if isinstance(module, BATCH_NORMS) and not getattr(module, FROZEN_STATS_ATTR, True):
            buffers = dict(module.named_buffers(recurse=False))
            for key, value in module.state_dict(keep_vars=True).items():  # persistent buffers only
                if key in buffers:
                    state[f"{name}.{key}" if name else key] = value
    return state


def resolve_targets(model: nn.Module, info: AdaptInfo, supported: tuple[type, ...]) -> list[str]:
    """Full names of the body layers a wrapping method targets; unsupported ones go to ``info.unwrapped``.

    ``cfg.target_modules`` entries match a module name exactly or as a dotted suffix (``"qkv"`` matches
    ``encoder.blocks.0.attn.qkv``); None targets every weight layer of the body. An entry that matches
    no weight layer of the body is a ConfigError.
    """
    layers = {name: mod for name, mod in model.named_modules()
              if name and isinstance(mod, WEIGHT_LAYERS) and not info.parts.in_head(name)}
    wanted = info.cfg.target_modules
    if wanted is not None:
        for t in wanted:
            if not any(_matches(name, t) for name in layers):
                raise ConfigError(f"target_modules entry {t!r} matches no Linear/Conv layer of the body; "
                                  f"layers: {', '.join(sorted(layers)[:12])}{' ...' if len(layers) > 12 else ''}")
        layers = {n: m for n, m in layers.items() if any(_matches(n, t) for t in wanted)}
    targets = [n for n, m in layers.items() if isinstance(m, supported)]
    info.unwrapped = {n: count_params(m) for n, m in layers.items() if not isinstance(m, supported)}
    if not targets:
        raise ConfigError(f"{info.cfg.method}: no targeted layer is of a supported type "
                          f"({', '.join(t.__name__ for t in supported)})")
    return targets


def _matches(name: str, target: str) -> bool:
    """True when module ``name`` is ``target`` or ends with ``.target``."""
    return name == target or name.endswith("." + target)


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` at dotted module path ``name``."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def plain_merge(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Merge for methods that train existing weights only: they already are plain weights."""
    return release(model)
