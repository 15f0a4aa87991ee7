"""Wavefield (CTF) baselines behind one small plug-in interface (:mod:`.base`).

:func:`build_model` turns a name and a config mapping into a model; :data:`MODELS` lists the names.
Heavy modules (torch, pydmd) are imported only when their model is built.
"""

from __future__ import annotations

import importlib
from typing import Any

from seisforge.config import from_dict
from seisforge.errors import ConfigError
from seisforge.models.wavefield.base import ModelUnavailable, Task, WavefieldModel

MODELS: dict[str, str] = {
    "zero": "seisforge.models.wavefield.simple:ZeroModel",
    "mean": "seisforge.models.wavefield.simple:MeanModel",
    "last": "seisforge.models.wavefield.simple:LastModel",
    "dmd": "seisforge.models.wavefield.dmd:DMDModel",
    "lstm": "seisforge.models.wavefield.lstm:LSTMModel",
    "esn": "seisforge.models.wavefield.esn:ESNModel",
    "fno": "seisforge.models.wavefield.fno:FNOModel",
    "deeponet": "seisforge.models.wavefield.deeponet:DeepONetModel",
    "chronos": "seisforge.models.wavefield.chronos:ChronosModel",
}


def model_class(name: str) -> type[WavefieldModel]:
    """The model class registered as ``name``."""
    if name not in MODELS:
        raise ConfigError(f"unknown wavefield model {name!r}; known: {', '.join(MODELS)}")
    module, _, cls = MODELS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def build_model(name: str, config: dict[str, Any] | None = None, seed: int = 0) -> WavefieldModel:
    """Build model ``name`` with a typed config (unknown keys raise :class:`ConfigError`).

    Raises
    ------
    ModelUnavailable
        When an optional model cannot run here (e.g. Chronos without local weights).
    """
    cls = model_class(name)
    cfg = from_dict(cls.Config, dict(config or {}), where=f"{name} config")
    return cls(cfg, seed=seed)


__all__ = ["MODELS", "ModelUnavailable", "Task", "WavefieldModel", "build_model", "model_class"]
