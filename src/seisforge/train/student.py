"""The student picker a training run starts from, built from the ``model`` config section."""

from __future__ import annotations

from seisforge.errors import ConfigError
from seisforge.models.loaded import LoadedModel
from seisforge.models.registry import SEISBENCH_KINDS, load_model, parse_spec
from seisforge.models.seisbench_pickers import seisbench_class
from seisforge.train.config import ModelConfig


def build_picker(cfg: ModelConfig) -> LoadedModel:
    """The student picker: weights, hub name, previous run or random initialisation.

    ``model.cls`` is a model spec (:mod:`seisforge.models.registry`) of a SeisBench kind: a class
    (``PhaseNet`` or ``seisbench:PhaseNet``), used with ``weights``, ``pretrained``, ``run`` (checked to
    hold that class) or none of them (random initialisation with ``kwargs``, left in train mode); or
    ``run:DIR``, the same as ``run: DIR`` without the class check.
    """
    spec = parse_spec(cfg.cls, kinds=SEISBENCH_KINDS, user="model.cls")
    given = [k for k in ("weights", "pretrained", "run") if getattr(cfg, k)]
    if spec.kind == "run":
        given.append("cls: run:DIR")
    if len(given) > 1:
        raise ConfigError(f"model: give at most one of weights/pretrained/run, got {given}")
    if spec.kind == "run":
        return load_model(spec)
    if cfg.run:
        loaded = load_model(f"run:{cfg.run}")
        if type(loaded.model).__name__ != spec.arg:
            raise ConfigError(f"model.run holds a {type(loaded.model).__name__}, config says {cfg.cls}")
        return loaded
    if cfg.weights or cfg.pretrained:
        return load_model(spec, weights=cfg.weights, pretrained=cfg.pretrained)
    model = seisbench_class(spec.arg)(**cfg.kwargs)
    return LoadedModel(model, source="random-init", spec=str(spec))
