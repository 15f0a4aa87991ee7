"""Distillation: a smaller student trained on the teacher's outputs with the training loop's KD loss.

The student is a training run (:func:`seisforge.train.loop.train`) with ``loss.kd.teacher`` set to the
input spec; its result is a run directory that loads as ``run:DIR``. ``alpha`` weighs the KD term
(:func:`seisforge.train.losses.kd_term`, teacher probabilities as soft targets) against the label loss;
``alpha=1`` uses no labels at all, so unlabelled traces serve. The base training config is the teacher
run's own (same labels, augmentations and data) when the teacher is ``run:DIR``, else the defaults; a
``train_config`` YAML replaces it.

Student size is a config choice: ``student`` names a SeisBench class (``PhaseNetLight``, ``PhaseNet``)
or ``run:DIR``; ``width`` < 1 scales every layer's channels by removing a random ``1 - width`` of them
from a fresh student (:func:`seisforge.compress.prune.prune_channels`), so a narrower PhaseNet or
PhaseNetLight is a setting, not a new class.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seisforge.config import apply_overrides, from_dict, load_yaml, to_dict
from seisforge.errors import ConfigError, DataError
from seisforge.models.loaded import LoadedModel
from seisforge.models.run_dir import save_best
from seisforge.models.seisbench_pickers import normalisation_args, seisbench_class
from seisforge.train.config import TrainConfig


@dataclass
class KDSettings:
    """How a student learns from its teacher (``seisforge compress`` options).

    ``dev_day``: continuous dev station-day files; when given, the student is selected on its pick
    agreement with the teacher there (:mod:`seisforge.compress.dev_day`) instead of the dev-window loss.
    """

    dataset: str | None = None
    epochs: int = 10
    alpha: float = 0.7
    temperature: float = 1.0
    train_config: str | None = None
    overrides: list[str] = field(default_factory=list)
    seed: int = 0
    dev_day: list[str] = field(default_factory=list)


def train_student(teacher: LoadedModel, teacher_weights: str | None, student_spec: str, out: Path,
                  kd: KDSettings) -> Path:
    """Train ``student_spec`` (a class or ``run:DIR``) from ``teacher`` into the run directory ``out``."""
    from seisforge.train.loop import train

    if not kd.dataset:
        raise ConfigError("distillation needs --dataset (a SeisBench dataset with train/dev splits; with "
                          "--kd-alpha 1 its labels are not used)")
    if kd.epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {kd.epochs}")
    if out.exists() and any(out.iterdir()):
        raise DataError(f"--out {out} exists and is not empty; a training step writes a new run directory")
    if out.exists():
        out.rmdir()
    base = _base_config(teacher, kd.train_config)
    if not student_spec.startswith("run:"):  # a fresh student normalises its windows as the teacher does
        model_cfg = base.setdefault("model", {})
        model_cfg["kwargs"] = {**(model_cfg.get("kwargs") or {}), **normalisation_args(teacher.model)}
    hooks = _dev_day_hooks(teacher, kd.dev_day)
    selection = [f"train.early_stopping_metric={hooks.dev_extra_fields[0]}"] if kd.dev_day else []
    base = apply_overrides(base, [
        f"model.cls={student_spec}", "model.weights=null", "model.pretrained=null", "model.run=null",
        f"data.path={kd.dataset}", "data.datasets=[]", "data.manifest=null",
        f"loss.kd.teacher={teacher.spec}", f"loss.kd.alpha={kd.alpha}", f"loss.kd.temperature={kd.temperature}",
        f"train.epochs={kd.epochs}", f"seed={kd.seed}", f"run.root={out.parent}", f"run.name={out.name}",
        f"name={out.name}", *selection, *kd.overrides])
    if teacher_weights:
        base["loss"]["kd"]["teacher_weights"] = str(teacher_weights)
    cfg = from_dict(TrainConfig, base, where="distillation config")
    run_dir = train(cfg, overrides=kd.overrides, hooks=hooks)
    if Path(run_dir) != out:
        raise DataError(f"training wrote {run_dir}, expected {out}")
    return out


def _dev_day_hooks(teacher: LoadedModel, dev_day: list[str]):
    """Loop hooks that add the dev-day agreement metrics (:mod:`seisforge.compress.dev_day`), if any."""
    from seisforge.train.loop import LoopHooks

    if not dev_day:
        return LoopHooks()
    from seisforge.compress.dev_day import FIELDS, DayAgreement

    return LoopHooks(dev_extra=DayAgreement(teacher.model, dev_day).metrics, dev_extra_fields=FIELDS)


def _base_config(teacher: LoadedModel, train_config: str | None) -> dict[str, Any]:
    if train_config:
        return load_yaml(train_config)
    if teacher.spec.startswith("run:"):
        resolved = Path(teacher.spec[4:]) / "config.resolved.yaml"
        if resolved.is_file():
            return load_yaml(resolved)
    return to_dict(TrainConfig())


def narrow_student(cls_name: str, width: float, teacher: LoadedModel, seed: int, where: Path) -> str:
    """A fresh ``cls_name`` with a ``width`` fraction of its channels, saved as a run dir under ``where``.

    Returns its ``run:DIR`` spec (the class itself when ``width`` is 1). The student takes the teacher's
    sampling rate, components and labels.
    """
    import torch

    from seisforge.compress.prune import prune_channels

    if not 0 < width <= 1:
        raise ConfigError(f"--student-width must be in (0, 1], got {width}")
    if width == 1:
        return cls_name
    torch.manual_seed(seed)
    tm = teacher.model
    model = seisbench_class(cls_name)(phases=tm.labels, classes=len(tm.labels), sampling_rate=tm.sampling_rate,
                                      component_order=tm.component_order, **normalisation_args(tm))
    summary = prune_channels(model, 1 - width, importance="random")
    run_dir = Path(tempfile.mkdtemp(prefix="student_init_", dir=where))
    save_best(model, run_dir, f"seisforge distillation student: {cls_name} at width {width}",
              width=width, parameters=summary["parameters_after"])
    return f"run:{run_dir}"


def keep_init(init_spec: str, out: Path, name: str, tmp: Path) -> None:
    """Move a temporary initial model (``run:DIR`` under ``tmp``, from :func:`narrow_student`) into ``out/name``.

    Anything else (a class name, or the user's own ``--student run:DIR``) is left where it is.
    """
    if init_spec.startswith("run:") and Path(init_spec[4:]).resolve().is_relative_to(Path(tmp).resolve()):
        shutil.move(init_spec[4:], out / name)
