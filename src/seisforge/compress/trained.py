"""The compression steps that train: ``distill`` (a smaller student) and ``prune`` (+ recovery).

Both write a seisforge run directory at ``OUT`` (``run:OUT`` in every command), its ``model_card.json``
(``training.method``, ``training.parent``) and ``compress_report.json``, so the next step of the chain
(distill -> prune -> int8) reads ``run:OUT``.
"""

from __future__ import annotations

import copy
import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from seisforge.compress.distill import KDSettings, keep_init, narrow_student, train_student
from seisforge.compress.outputs import parent_card, write_report
from seisforge.errors import ConfigError
from seisforge.models.card import card_from_seisbench, write_card
from seisforge.models.loaded import LoadedModel
from seisforge.models.registry import load_model
from seisforge.models.run_dir import save_best


def compress_trained(loaded: LoadedModel, method: str, out: Path, kd: KDSettings, student: str = "PhaseNetLight",
                     student_width: float = 1.0, ratio: float = 0.5,
                     teacher_weights: str | None = None, targets: str | Path | None = None,
                     thresholds: str = "auto") -> dict[str, Any]:
    """Run ``distill`` or ``prune`` on ``loaded`` into the run directory ``out``; returns the report.

    The card's trigger thresholds follow ``thresholds`` (:mod:`seisforge.compress.thresholds`): with dev
    ``targets`` (of ``kd.dataset``) they are re-tuned on dev to agree with ``loaded``'s picks.
    """
    from seisforge.compress.thresholds import resolve_mode, retune_run
    from seisforge.deploy.runtimes.artifact import model_card_of, network_graph
    from seisforge.models.onnx_picker import OnnxPicker

    if isinstance(loaded.model, OnnxPicker) or not callable(getattr(loaded.model, "parameters", None)):
        raise ConfigError(f"{loaded.spec}: {method} needs a torch model (run:DIR or seisbench:...), "
                          "not an exported artifact")
    resolve_mode(thresholds, targets, kd.dev_day)  # a bad choice fails before any training
    if targets and not kd.dataset:
        raise ConfigError("--targets needs --dataset (the dataset the targets were made from)")
    out.parent.mkdir(parents=True, exist_ok=True)
    if method == "distill":
        info = _distill(loaded, out, kd, student, student_width, teacher_weights)
    else:
        info = _prune(loaded, out, kd, ratio, teacher_weights)
    result = load_model(f"run:{out}")
    parent = model_card_of(loaded, parent_card(loaded))
    card = card_from_seisbench(result.model, thresholds=dict(parent.thresholds),
                               training={"method": method, "parent": loaded.source, **_json_safe(info)},
                               parameters={"count": _count(result.model)})
    card = dataclasses.replace(card, normalisation=parent.normalisation)
    write_card(card, out / "model_card.json")
    info.update(retune_run(loaded, out, dict(parent.thresholds), thresholds, kd.dataset, targets, kd.dev_day))
    info.update(parameters_parent=_count(loaded.model), parameters=_count(result.model))
    return write_report(loaded, method, "torch", out / "best" / "model.safetensors", network_graph(loaded),
                         info, out)


def _distill(loaded, out, kd, student, width, teacher_weights) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".init_", ignore_cleanup_errors=True) as tmp:
        init = narrow_student(student, width, loaded, kd.seed, Path(tmp))
        train_student(loaded, teacher_weights, init, out, kd)
        keep_init(init, out, "student_init", Path(tmp))
    return {"student": student, "student_width": width, "teacher": loaded.spec, "kd_alpha": kd.alpha,
            "kd_temperature": kd.temperature, "epochs": kd.epochs, "dataset": kd.dataset,
            **({"dev_day": list(kd.dev_day)} if kd.dev_day else {})}


def _prune(loaded, out, kd, ratio, teacher_weights) -> dict[str, Any]:
    from seisforge.compress.prune import prune_channels

    model = copy.deepcopy(loaded.model).cpu()
    summary = prune_channels(model, ratio)
    info = {"pruning": summary, "recovery_epochs": kd.epochs if kd.dataset else 0}
    if not kd.dataset or kd.epochs == 0:
        save_best(model, out, f"seisforge prune {ratio} of {loaded.source}, no recovery", pruning_ratio=ratio)
        return info
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".init_", ignore_cleanup_errors=True) as tmp:
        save_best(model, Path(tmp), f"seisforge prune {ratio} of {loaded.source}", pruning_ratio=ratio)
        train_student(loaded, teacher_weights, f"run:{tmp}", out, kd)
        keep_init(f"run:{tmp}", out, "pruned_init", Path(tmp))
    info.update(recovery="distillation from the unpruned model", kd_alpha=kd.alpha,
                kd_temperature=kd.temperature, dataset=kd.dataset)
    return info


def _count(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def _json_safe(info: dict) -> dict:
    return {k: v for k, v in info.items() if k != "pruning"} | (
        {"pruning_ratio": info["pruning"]["ratio"]} if "pruning" in info else {})
