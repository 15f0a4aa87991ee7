"""Wavefield (CTF) baselines behind one small plug-in interface (:mod:`.base`).

:func:`build_wavefield_model` turns a name and a config mapping into a model; :data:`MODELS` lists the names.
Heavy modules (torch, pydmd) are imported only when their model is built.
"""

from __future__ import annotations

import importlib
from typing import Any

from seisforge.config import from_dict
from seisforge.errors import ConfigError
from seisforge.wavefield.models.base import ModelUnavailable, Task, WavefieldModel

MODELS: dict[str, str] = {
    "zero": "seisforge.wavefield.models.simple:ZeroModel",
    "mean": "seisforge.wavefield.models.simple:MeanModel",
    "last": "seisforge.wavefield.models.simple:LastModel",
    "dmd": "seisforge.wavefield.models.dmd:DMDModel",
    "lstm": "seisforge.wavefield.models.lstm:LSTMModel",
    "esn": "seisforge.wavefield.models.esn:ESNModel",
    "fno": "seisforge.wavefield.models.fno:FNOModel",
    "deeponet": "seisforge.wavefield.models.deeponet:DeepONetModel",
    "chronos": "seisforge.wavefield.models.chronos:ChronosModel",
}


def model_class(name: str) -> type[WavefieldModel]:
    """The model class registered as ``name``."""
    if name not in MODELS:
        raise ConfigError(f"unknown wavefield model {name!r}; known: {', '.join(MODELS)}")
    module, _, cls = MODELS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def build_wavefield_model(name: str, config: dict[str, Any] | None = None, seed: int = 0) -> WavefieldModel:
    """Build model ``name`` with a typed config (unknown keys raise :class:`ConfigError`).

    Raises
    ------
    ModelUnavailable
        When an optional model cannot run here (e.g. Chronos without local weights).
    """
    cls = model_class(name)
    cfg = from_dict(cls.Config, dict(config or {}), where=f"{name} config")
    return cls(cfg, seed=seed)


def resolved_model_config(name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full configuration model ``name`` runs with: its defaults updated by ``config`` (checked)."""
    from seisforge.config import to_dict

    return to_dict(from_dict(model_class(name).Config, dict(config or {}), where=f"{name} config"))


__all__ = ["MODELS", "ModelUnavailable", "Task", "WavefieldModel", "build_wavefield_model", "model_class", "resolved_model_config"]
