"""Apply, save, load and merge adaptations; the base-model hash that ties an adapter to its base.

An adapter file is a safetensors file with only the tensors the method trains (:func:`adapter_state`:
trainable parameters, plus the statistics of BatchNorms that train) and string metadata: ``format``,
``method``, ``config`` (AdaptConfig JSON), ``base_hash``, ``base_class``. Loading re-applies the method to
a fresh base and copies the tensors in, after checking that the base is the one the adapter was trained on.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from seisforge.errors import ConfigError, DataError
from seisforge.models.adapt.common import INFO_ATTR, adapter_state
from seisforge.models.adapt.config import AdaptConfig
from seisforge.models.adapt.methods import get_method
from seisforge.models.encoders.parts import model_parts

FORMAT = "seisforge-adapter/1"
#: name segments of tensors an adaptation adds (never part of the base)
ADDED_SEGMENTS = ("ia3_scale", "adapter", "prompt_tokens")
#: name segments wrappers insert in front of the base layer's own tensors
WRAPPER_SEGMENTS = ("base_layer",)


def apply(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Adapt ``model`` in place with ``cfg.method`` and return it (see ``methods``)."""
    return get_method(cfg.method).apply(model, cfg)


def merge(model: nn.Module, cfg: AdaptConfig) -> nn.Module:
    """Fold the adaptation into a plain model with the original module structure (in place).

    LoRA/DoRA updates and IA3 scales are folded into the weights; ``full``, ``partial``,
    ``linear_probe`` and ``bitfit`` already train plain weights. The result has every parameter
    trainable, no frozen-statistics hooks, and the state-dict keys of the unadapted model.

    Raises
    ------
    ConfigError
        For ``adapter`` and ``prompt``, which add computation no plain weight can absorb.
    """
    method = get_method(cfg.method)
    if method.merge is None:
        raise ConfigError(f"{cfg.method} is not mergeable (it adds computation the base weights cannot "
                          "absorb); keep the adapted model, or use lora, dora, ia3, bitfit or partial")
    return method.merge(model, cfg)


def canonical_name(name: str) -> str | None:
    """The base-model name of tensor ``name`` of an adapted model, None for a tensor the method added."""
    segments = name.split(".")
    if any(s in ADDED_SEGMENTS or s.startswith("lora_") for s in segments):
        return None
    return ".".join(s for s in segments if s not in WRAPPER_SEGMENTS)


def base_hash(model: nn.Module, cfg: AdaptConfig | None = None) -> str:
    """sha256 over the base weights (parameters and persistent buffers) in sorted name order.

    Names are canonical (wrapper segments removed, method-added tensors skipped), so a frozen body hashes
    the same before and after adaptation. The head is left out when ``cfg.train_head`` (it is new and
    travels in the adapter file); without ``cfg``, or with ``train_head=False``, it is part of the base.
    Compute it on the base before ``apply`` for methods that change body weights (full, partial, bitfit).
    """
    skip_head = cfg is not None and cfg.train_head
    parts = model_parts(model) if skip_head else None
    tensors = {}
    for name, tensor in model.state_dict().items():
        canon = canonical_name(name)
        if canon is not None and not (parts is not None and parts.in_head(canon)):
            tensors[canon] = tensor
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{t.dtype}|{tuple(tensors[name].shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


_hash = base_hash  # save_adapter's parameter shadows the function


def save_adapter(model: nn.Module, path: str | Path, base_hash: str, cfg: AdaptConfig) -> Path:
    """Write the adapter tensors of ``model`` (adapted with ``cfg``) and metadata to ``path``.

    Parameters
    ----------
    model
        The adapted model.
    path
        Output ``.safetensors`` file.
    base_hash
        :func:`base_hash` of the base, ``base_hash(base, cfg)`` computed before adaptation.
    cfg
        The configuration the model was adapted with.

    Raises
    ------
    ConfigError
        For a method that leaves the body frozen, when ``base_hash`` is not the hash of the model's
        frozen base (typically computed without ``cfg``, so with the head in it).
    """
    if not get_method(cfg.method).changes_base and base_hash != _hash(model, cfg):
        raise ConfigError(f"base_hash {base_hash[:16]} is not the hash of this model's frozen base; pass "
                          "base_hash(base, cfg) computed with the same cfg")
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in adapter_state(model).items()}
    meta = {"format": FORMAT, "method": cfg.method, "config": cfg.to_json(), "base_hash": base_hash,
            "base_class": type(model).__name__}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)
    return path


def read_adapter(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of an adapter file (DataError when it is not one)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, ValueError, RuntimeError) as err:
        raise DataError(f"cannot read adapter file {path}: {err}") from err
    if meta.get("format") != FORMAT:
        raise DataError(f"{path} is not a seisforge adapter file (format {meta.get('format')!r})")
    return tensors, meta


def load_adapter(base_model: nn.Module, path: str | Path) -> nn.Module:
    """Apply the adapter at ``path`` to an unadapted ``base_model`` (in place) and return it.

    Raises
    ------
    DataError
        When ``base_model`` is not the base the adapter was trained on (class, weight hash, or tensor
        shapes); the message names both bases.
    """
    tensors, meta = read_adapter(path)
    cfg = AdaptConfig.from_dict(json.loads(meta["config"]))
    if hasattr(base_model, INFO_ATTR):
        raise ConfigError("load_adapter needs an unadapted base model")
    ours_hash = base_hash(base_model, cfg)
    ours = f"{type(base_model).__name__} (hash {ours_hash[:16]})"
    theirs = f"{meta['base_class']} (hash {meta['base_hash'][:16]})"
    if (type(base_model).__name__, ours_hash) != (meta["base_class"], meta["base_hash"]):
        raise DataError(f"adapter {path} was trained on base {theirs}, but the given base is {ours}")
    model = apply(base_model, cfg)
    _check_and_copy(model, tensors, f"adapter {path} (base {theirs}) does not fit the given base {ours}")
    return model


def _check_and_copy(model: nn.Module, tensors: dict[str, torch.Tensor], context: str) -> None:
    """Copy ``tensors`` into ``model`` after checking names and shapes against what the method trains."""
    expected = adapter_state(model)
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise DataError(f"{context}: tensors missing {missing[:5]}, unexpected {extra[:5]}")
    bad = [f"{k}: {tuple(t.shape)} in the adapter, {tuple(expected[k].shape)} in the base"
           for k, t in tensors.items() if t.shape != expected[k].shape]
    if bad:
        raise DataError(f"{context}: shapes differ - " + "; ".join(bad[:5]))
    with torch.no_grad():
        for k, t in tensors.items():
            expected[k].copy_(t)
