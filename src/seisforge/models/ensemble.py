"""Model construction for training, and the ``run:`` / ``ensemble:`` model specs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seisforge.errors import ConfigError, DataError
from seisforge.models import registry
from seisforge.train.config import ModelConfig


def load_run_model(run_dir: str | Path, **_):
    """Load the selected model of a seisforge run (``RUN_DIR/best``)."""
    best = Path(run_dir) / "best"
    info_path = best / "seisforge.json"
    if not info_path.is_file():
        raise DataError(f"{run_dir} is not a finished seisforge run (no best/seisforge.json)")
    info = json.loads(info_path.read_text())
    cls = registry.seisbench_class(info["class"])
    model = cls.load(best / info["seisbench_prefix"], weights_only=True, map_location="cpu")
    model._seisforge_source = f"run:{run_dir}"
    model.eval()
    return model


class EnsemblePicker:
    """Averages the class probabilities of several pickers (same rate, window and labels)."""

    def __init__(self, members: list):
        from seisforge.bench.picking.predict import SeisBenchWindowPicker

        self.members = [SeisBenchWindowPicker(m) for m in members]
        first = self.members[0]
        for m in self.members[1:]:
            if (m.sampling_rate, m.in_samples, m.component_order) != (first.sampling_rate, first.in_samples,
                                                                      first.component_order):
                raise ConfigError("ensemble members must share sampling rate, window length and components")
            if sorted(m.labels) != sorted(first.labels):
                raise ConfigError(f"ensemble members have different classes: {m.labels} vs {first.labels}")
        self.sampling_rate, self.in_samples = first.sampling_rate, first.in_samples
        self.component_order, self.norm, self.labels = first.component_order, first.norm, first.labels
        self.name = "Ensemble(" + ",".join(m.name for m in self.members) + ")"
        self.version = ";".join(m.version for m in self.members)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Mean probabilities, each member's classes reordered to the first member's."""
        out = None
        for m in self.members:
            p = m.probabilities(x)
            p = p[:, [m.labels.index(c) for c in self.labels]]
            out = p if out is None else out + p
        return out / len(self.members)

    def window_outputs(self, x, borders):
        """Benchmark outputs from the averaged probabilities."""
        from seisforge.bench.picking.predict import outputs_from_probabilities

        return outputs_from_probabilities(self.probabilities(x), borders, self.labels)


def load_ensemble(arg: str, **_):
    """``ensemble:SPEC1,SPEC2`` where each SPEC is ``run:DIR`` or ``seisbench:Class@WEIGHTS``."""
    specs = [s for s in arg.split(",") if s]
    if len(specs) < 2:
        raise ConfigError("ensemble needs at least two specs: ensemble:run:A,run:B")
    members = []
    for spec in specs:
        spec, _, weights = spec.partition("@")
        members.append(registry.load_model(spec, weights=weights or None))
    return EnsemblePicker(members)


registry.LOADERS["run"] = load_run_model
registry.LOADERS["ensemble"] = load_ensemble


def build_model(cfg: ModelConfig):
    """The student model from a model config (weights, hub name, previous run or random init)."""
    given = [k for k in ("weights", "pretrained", "run") if getattr(cfg, k)]
    if len(given) > 1:
        raise ConfigError(f"model: give at most one of weights/pretrained/run, got {given}")
    if cfg.run:
        model = load_run_model(cfg.run)
        if type(model).__name__ != cfg.cls:
            raise ConfigError(f"model.run holds a {type(model).__name__}, config says {cfg.cls}")
        return model
    if cfg.weights or cfg.pretrained:
        return registry.load_seisbench(cfg.cls, weights=cfg.weights, pretrained=cfg.pretrained)
    cls = registry.seisbench_class(cfg.cls)
    model = cls(**cfg.kwargs)
    model._seisforge_source = "random-init"
    return model
