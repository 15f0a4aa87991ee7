"""``seisforge adapt``: adapt a pretrained base to a task through the training loop, then merge it.

An adaptation run *is* a training run (:func:`seisforge.train.loop.train`: the same seeding, determinism,
soft-label loss, distillation, dev-only selection, checkpoints and ``--resume``). Only four things differ,
passed to the loop as :class:`~seisforge.train.loop.LoopHooks`:

- the model: the base (:func:`seisforge.models.adapt.base.build_base`) adapted with ``adapt``
  (:func:`seisforge.models.adapt.apply`); only its trainable parameters reach the optimiser;
- the train split: ``label_fraction`` of its events, drawn with ``label_seed``
  (:func:`seisforge.train.adapt.fractions.event_subset`);
- the export: ``best/adapter.safetensors`` (the trained tensors only, with the base's hash) and
  ``best/seisforge.json`` describing the base, so that ``run:DIR`` rebuilds the picker without training code;
- start-up: the parameter accounting is printed and written to ``accounting.json``, and
  ``model_card.json`` is written with every export.

Tasks: ``picking`` (per-sample P/S/noise, a SeisBench picker) and the window-level ``detection`` and
``magnitude`` (:mod:`seisforge.train.adapt.tasks`: the same encoders and starting points with a pooled
head, an :class:`~seisforge.models.encoders.pickers.EncoderTaskModel`), passed to the loop as its
``task`` hook.

Run directory (beyond a training run's files): ``accounting.json``, ``model_card.json``, ``best/adapter.safetensors``,
``best/seisforge.json`` (``kind: adapt``); for detection and magnitude also ``task.json`` (split sizes,
dropped traces, target statistics) and, after scoring, ``task_metrics.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seisforge.errors import ConfigError, DataError
from seisforge.models.adapt import AdaptConfig, account, apply, base_hash, merge, save_adapter
from seisforge.models.adapt.base import build_base
from seisforge.models.adapt.methods import get_method
from seisforge.models.card import TASKS, ModelCard, card_from_seisbench, write_card
from seisforge.models.loaded import LoadedModel
from seisforge.runinfo import write_json
from seisforge.train.adapt.fractions import event_subset
from seisforge.train.adapt.tasks import make_task
from seisforge.train.config import TrainConfig
from seisforge.train.loop import LoopHooks, train

ADAPTER_FILE = "adapter.safetensors"


@dataclass
class AdaptRunConfig(TrainConfig):
    """A training config plus what adaptation needs (the ``model`` section is not used).

    Attributes
    ----------
    base
        ``pretrain:RUN_DIR`` (a ``seisforge pretrain`` run) or ``seisbench:<Class>`` (with ``weights``).
    weights
        SeisBench weight pair of a ``seisbench:`` base.
    picker
        Picker settings for a pretrain base (``in_samples``, ``norm``, ``smooth_kernel``, ``phases``).
    adapt
        :class:`~seisforge.models.adapt.AdaptConfig` fields (``method`` and its settings).
    task
        One of :data:`TASKS`.
    label_fraction, label_seed
        Fraction of the train split's events used (with all their traces), and the draw's seed.
    eval_split
        Detection and magnitude: the split scored once after training with the dev-tuned threshold
        (``task_metrics.json``); None scores dev only.
    n_boot
        Event-bootstrap resamples of the CIs in ``task_metrics.json``.
    """

    name: str = "adapt"
    base: str = ""
    weights: str | None = None
    picker: dict = field(default_factory=dict)
    adapt: dict = field(default_factory=lambda: {"method": "lora"})
    task: str = "picking"
    label_fraction: float = 1.0
    label_seed: int = 0
    eval_split: str | None = "test"
    n_boot: int = 200


def adapt_config(cfg: AdaptRunConfig) -> AdaptConfig:
    """The run's :class:`AdaptConfig`, after checking the task and the base."""
    if cfg.task not in TASKS:
        raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {cfg.task!r}")
    if not cfg.base:
        raise ConfigError("adapt: give base: pretrain:RUN_DIR or base: seisbench:<Class> with weights")
    return AdaptConfig.from_dict(dict(cfg.adapt))


def base_description(cfg: AdaptRunConfig) -> dict[str, Any]:
    """What :func:`build_base` needs, as stored in ``best/seisforge.json`` (absolute paths)."""
    kind, _, arg = cfg.base.partition(":")
    spec = f"pretrain:{Path(arg).resolve()}" if kind == "pretrain" else cfg.base
    out = {"spec": spec, "weights": str(Path(cfg.weights).resolve()) if cfg.weights else None,
           "picker": dict(cfg.picker)}
    return out if cfg.task == "picking" else {**out, "task": cfg.task}


class _AdaptHooks:
    """The loop hooks of one adaptation run (see module docstring)."""

    def __init__(self, cfg: AdaptRunConfig):
        self.cfg, self.acfg, self.base = cfg, adapt_config(cfg), base_description(cfg)
        self.hash = ""
        self.accounting: dict[str, Any] = {}
        self.task = make_task(cfg.task) if cfg.task != "picking" else None

    def hooks(self) -> LoopHooks:
        return LoopHooks(build=self.build, select_train=self.select, export=self.export, on_start=self.start,
                         task=self.task, command="adapt")

    def build(self, cfg: TrainConfig) -> LoadedModel:
        model = build_base(self.base)
        self.hash = base_hash(model, self.acfg)  # before apply: full/partial/bitfit change base weights
        model = apply(model, self.acfg)
        model.train()
        return LoadedModel(model, source=self.cfg.base, spec=self.cfg.base)

    def select(self, data):
        return event_subset(data, self.cfg.label_fraction, self.cfg.label_seed)

    def start(self, run) -> None:
        acc = account(run.model)
        self.accounting = {**acc.to_dict(), "base": self.cfg.base, "base_hash": self.hash}
        write_json(self.accounting, run.run_dir / "accounting.json")
        if self.task is not None:
            write_json(self.task.info, run.run_dir / "task.json")
        print(acc.format())

    def export(self, model, best: Path, cfg: TrainConfig, epoch: int, metric: float) -> None:
        path = save_adapter(model, best / ADAPTER_FILE, self.hash, self.acfg)
        self.accounting["adapter_file_bytes"] = path.stat().st_size
        write_json(self.accounting, best.parent / "accounting.json")
        base = {**self.base, **(self.task.base_extra() if self.task is not None else {})}
        (best / "seisforge.json").write_text(json.dumps({
            "kind": "adapt", "class": type(model).__name__, "base": base, "adapter": ADAPTER_FILE,
            "method": self.acfg.method, "mergeable": get_method(self.acfg.method).mergeable, "epoch": epoch,
            "selection_metric": cfg.train.early_stopping_metric, "selection_value": metric,
            "base_hash": self.hash}, indent=2))
        write_card(run_card(model, best.parent, self.cfg, self.accounting, self.task), best.parent)


def run_card(model, run_dir: Path, cfg: AdaptRunConfig, accounting: dict[str, Any], task=None) -> ModelCard:
    """The model card of an adaptation run (input, labels, normalisation, data hash, method, accounting;
    for a window-level ``task`` its outputs, dev-tuned threshold and label convention)."""
    data_hash = (run_dir / "data.sha256").read_text().strip() if (run_dir / "data.sha256").is_file() else None
    sections = task.card_fields() if task is not None else {
        "label_convention": {"shape": cfg.labels.shape, "sigma_samples": cfg.labels.sigma}}
    return card_from_seisbench(
        model, **sections,
        training={"command": "seisforge adapt", "method": AdaptConfig.from_dict(dict(cfg.adapt)).to_dict(),
                  "task": cfg.task, "base": cfg.base, "base_weights": cfg.weights, "data_hash": data_hash,
                  "label_fraction": cfg.label_fraction, "label_seed": cfg.label_seed, "seed": cfg.seed,
                  "data": {"path": cfg.data.path, "datasets": cfg.data.datasets, "manifest": cfg.data.manifest,
                           "train_split": cfg.data.train_split, "dev_split": cfg.data.dev_split}},
        parameters=accounting)


def adapt(cfg: AdaptRunConfig, resume: str | Path | None = None, overrides: list[str] | None = None) -> Path:
    """Run one adaptation (see module docstring); returns the run directory."""
    return train(cfg, resume=resume, overrides=overrides, hooks=_AdaptHooks(cfg).hooks())


def merge_run(run_dir: str | Path, out: str | Path) -> Path:
    """Fold the adapter of adaptation run ``run_dir`` into plain weights: a run directory at ``out``.

    ``out/best`` holds the SeisBench pair and ``seisforge.json`` of a training run, so ``run:OUT`` loads the
    merged picker like any trained one; ``out/model_card.json`` is the run's card with the merge recorded.

    Raises
    ------
    ConfigError
        When the method is not mergeable (``adapter``, ``prompt``) or ``run_dir`` is no adaptation run.
    """
    from seisforge.models.adapt.common import INFO_ATTR
    from seisforge.models.adapt.io import load_adapter
    from seisforge.models.card import read_card

    run_dir, out = Path(run_dir), Path(out)
    info_path = run_dir / "best/seisforge.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    if info.get("kind") != "adapt":
        raise ConfigError(f"{run_dir} is not a finished seisforge adapt run (no best/seisforge.json of kind adapt)")
    if not get_method(info["method"]).mergeable:
        raise ConfigError(f"{run_dir}: method {info['method']} is not mergeable (it adds computation the base "
                          "weights cannot absorb); use run:DIR with the adapter instead")
    model = load_adapter(build_base(info["base"]), run_dir / "best" / info["adapter"])
    plain = merge(model, getattr(model, INFO_ATTR).cfg).eval()
    best = out / "best"
    if best.exists():
        raise DataError(f"{best} exists; choose another --out")
    best.mkdir(parents=True)
    plain.save(best / "model", weights_docstring=f"seisforge adapt merge of {run_dir} ({info['method']})")
    (best / "seisforge.json").write_text(json.dumps({
        "class": type(plain).__name__, "seisbench_prefix": "model", "merged_from": str(run_dir),
        "method": info["method"], "base_hash": info.get("base_hash")}, indent=2))
    if (run_dir / "model_card.json").is_file():
        card = read_card(run_dir / "model_card.json")
        card.training = {**card.training, "merged_from": str(run_dir)}
        write_card(card, out)
    return out
