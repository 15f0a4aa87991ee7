"""The training loop: reproducible, resumable, early-stopped on dev, never reading test."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from seisforge.config import dump_yaml
from seisforge.data.sources import phase_columns
from seisforge.errors import ConfigError, DataError, first_line
from seisforge.models.registry import load_model
from seisforge.models.run_dir import save_best
from seisforge.models.seisbench_pickers import label_string, normalisation_args
from seisforge.runinfo import RunReport, environment, seed_everything, sha256_lines, worker_init_fn
from seisforge.train import losses
from seisforge.train.config import TrainConfig
from seisforge.train.data import (
    OffsetSampler,
    SeededGenerator,
    SplitData,
    build_augmentations,
    open_training_datasets,
)
from seisforge.train.student import build_picker

log = logging.getLogger(__name__)

LOWER_IS_BETTER = ("dev_loss", "dev_P_rms_s", "dev_S_rms_s", "dev_P_mae_s", "dev_S_mae_s")


def init_distributed() -> tuple[int, int, int]:
    """Join a torchrun (or Ray Train) process group when ``WORLD_SIZE`` > 1: ``(rank, world, local_rank)``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    return dist.get_rank(), dist.get_world_size(), local


def _broadcast(obj, world: int):
    if world <= 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def resolve_device(name: str, local_rank: int = 0) -> str:
    """``auto`` -> cuda when available, else cpu."""
    if name == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device: cuda requested but no CUDA device is available")
    return name


def _validate(cfg: TrainConfig, task: Any = None, extra_metrics: tuple[str, ...] = ()) -> None:
    if task is not None and cfg.loss.kd.teacher:
        raise ConfigError(f"loss.kd (distillation from a picker) applies to picking only, not to task {task.name}")
    if cfg.loss.kind not in ("soft_ce", "hard_ce", "focal"):
        raise ConfigError(f"loss.kind must be soft_ce, hard_ce or focal, got {cfg.loss.kind!r}")
    if cfg.precision not in ("fp32", "fp16", "bf16"):
        raise ConfigError(f"precision must be fp32, fp16 or bf16, got {cfg.precision!r}")
    allowed = task.selection_metrics if task is not None else (*LOWER_IS_BETTER, *extra_metrics)
    if cfg.train.early_stopping_metric not in allowed:
        raise ConfigError(f"train.early_stopping_metric must be one of {allowed}")
    if cfg.optim.schedule not in ("cosine", "constant"):
        raise ConfigError("optim.schedule must be cosine or constant")
    if not 0 <= cfg.loss.kd.alpha <= 1:
        raise ConfigError("loss.kd.alpha must be in [0, 1]")
    t, o, a = cfg.train, cfg.optim, cfg.augment
    checks = [  # (key, value, allowed, rule): numeric settings that would fail deep inside torch or do nothing
        ("train.epochs", t.epochs, t.epochs >= 1, ">= 1"),
        ("train.batch_size", t.batch_size, t.batch_size >= 1, ">= 1"),
        ("train.num_workers", t.num_workers, t.num_workers >= 0, ">= 0"),
        ("train.patience", t.patience, t.patience >= 0, ">= 0"),
        ("train.steps_per_epoch", t.steps_per_epoch, t.steps_per_epoch is None or t.steps_per_epoch >= 1, ">= 1"),
        ("train.stop_after_steps", t.stop_after_steps, t.stop_after_steps is None or t.stop_after_steps >= 1,
         ">= 1"),
        ("optim.lr", o.lr, math.isfinite(o.lr) and o.lr > 0, "> 0"),
        ("optim.weight_decay", o.weight_decay, o.weight_decay >= 0, ">= 0"),
        ("optim.warmup_steps", o.warmup_steps, o.warmup_steps >= 0, ">= 0"),
        ("optim.grad_clip", o.grad_clip, o.grad_clip is None or o.grad_clip >= 0, ">= 0 (0: off)"),
        ("labels.sigma", cfg.labels.sigma, cfg.labels.sigma > 0, "> 0"),
        ("loss.kd.temperature", cfg.loss.kd.temperature, cfg.loss.kd.temperature > 0, "> 0"),
        ("loss.kd.l2_weight", cfg.loss.kd.l2_weight, cfg.loss.kd.l2_weight >= 0, ">= 0"),
        ("loss.kd.slope_weight", cfg.loss.kd.slope_weight, cfg.loss.kd.slope_weight >= 0, ">= 0"),
        ("loss.kd.slope_lag", cfg.loss.kd.slope_lag, 1 <= cfg.loss.kd.slope_lag < 1000, "in [1, 1000)"),
        ("loss.kd.argmax_weight", cfg.loss.kd.argmax_weight, cfg.loss.kd.argmax_weight >= 0, ">= 0"),
        ("loss.kd.argmax_beta", cfg.loss.kd.argmax_beta, cfg.loss.kd.argmax_beta > 0, "> 0"),
        ("loss.kd.top_weight", cfg.loss.kd.top_weight, cfg.loss.kd.top_weight >= 0, ">= 0"),
        ("loss.kd.top_lags", cfg.loss.kd.top_lags,
         len(cfg.loss.kd.top_lags) > 0 and all(1 <= x < 1000 for x in cfg.loss.kd.top_lags),
         "a non-empty list of lags in [1, 1000)"),
    ] + [(f"augment.{k}", getattr(a, k), 0 <= getattr(a, k) <= 1, "in [0, 1]")
         for k in ("pick_window_prob", "amplitude_jitter_prob", "polarity_flip_prob", "noise_prob",
                   "channel_dropout_prob", "time_shift_prob")]
    for key, value, ok, rule in checks:
        if not ok:
            raise ConfigError(f"{key} must be {rule}, got {value!r}")


def _load_teacher(cfg: TrainConfig, student, device: str):
    kd = cfg.loss.kd
    if not kd.teacher:
        return None
    teacher = load_model(kd.teacher, weights=kd.teacher_weights).model
    if not hasattr(teacher, "labels") or not hasattr(teacher, "in_samples"):
        raise ConfigError(f"teacher {kd.teacher} is not a SeisBench picker")
    if sorted(teacher.labels) != sorted(student.labels) or teacher.in_samples != student.in_samples:
        raise ConfigError(f"teacher ({teacher.labels}, {teacher.in_samples}) and student ({student.labels}, "
                          f"{student.in_samples}) need the same classes and window length")
    t_norm, s_norm = normalisation_args(teacher), normalisation_args(student)
    if t_norm != s_norm:
        # the training windows are normalised the student's way: the teacher would score inputs it was
        # never trained on, and its soft targets would be noise
        raise ConfigError(f"teacher {kd.teacher} normalises windows with {t_norm}, the student with {s_norm}; "
                          "build the student with the teacher's (model.kwargs)")
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.to(device).eval()


def _forward(model, x):
    y = model(x)
    if isinstance(y, (tuple, list)):
        y = torch.stack(list(y), dim=1)
    return y


def _run_dir(cfg: TrainConfig) -> Path:
    root = Path(cfg.run.root)
    name = cfg.run.name or cfg.name
    path = root / name
    k = 1
    while path.exists():
        k += 1
        path = root / f"{name}_{k}"
    return path


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "python_pos": random.getstate()[2],
        "numpy_keys": torch.as_tensor(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))


def _dev_metrics(model, loader, cfg: TrainConfig, labels: str, device: str, sr: float) -> dict:
    model.eval()
    tot, n = 0.0, 0
    res = {"P": [], "S": []}
    with torch.inference_mode():
        for batch in loader:
            valid = batch["valid"].bool()
            if not valid.any():
                continue
            x, y = batch["X"][valid].to(device), batch["y"][valid].to(device)
            p = _forward(model, x)
            tot += float(losses.data_loss(cfg.loss.kind, p, y, cfg.loss.gamma, cfg.loss.class_weights)) * len(x)
            n += len(x)
            for ph in ("P", "S"):
                if ph not in labels:
                    continue
                i = labels.index(ph)
                has = y[:, i].max(-1).values > 0.5
                if has.any():
                    d = (p[has, i].argmax(-1) - y[has, i].argmax(-1)).float() / sr
                    res[ph].append(d.cpu().numpy())
    out = {"dev_loss": tot / max(n, 1)}
    for ph in ("P", "S"):
        r = np.concatenate(res[ph]) if res[ph] else np.array([])
        out[f"dev_{ph}_rms_s"] = float(np.sqrt(np.mean(r**2))) if len(r) else float("nan")
        out[f"dev_{ph}_mae_s"] = float(np.mean(np.abs(r))) if len(r) else float("nan")
    return out


def _export(run: _Run, epoch: int, metric: float) -> None:
    """Write the selected model to ``best/`` (the hook's export, or the SeisBench pair)."""
    if run.hooks.export is not None:
        (run.run_dir / "best").mkdir(parents=True, exist_ok=True)
        run.hooks.export(run.model, run.run_dir / "best", run.cfg, epoch, metric)
    else:
        _export_best(run.model, run.run_dir, run.cfg, epoch, metric)


def _export_best(model, run_dir: Path, cfg: TrainConfig, epoch: int, metric: float) -> None:
    save_best(model, run_dir, f"seisforge run {run_dir.name}, epoch {epoch}, "
              f"{cfg.train.early_stopping_metric}={metric:.5f}", epoch=epoch,
              selection_metric=cfg.train.early_stopping_metric, selection_value=metric)


@dataclass
class LoopHooks:
    """What a caller of :func:`train` may replace (``seisforge adapt`` uses them; defaults: plain training).

    Attributes
    ----------
    build
        ``build(cfg) -> LoadedModel``: the model to train, instead of :func:`build_picker` on ``cfg.model``.
        Only parameters with ``requires_grad`` reach the optimiser, so a frozen part stays frozen.
    select_train
        ``select_train(train_data) -> SplitData``: a subset of the train split (label fractions).
    export
        ``export(model, best_dir, cfg, epoch, metric)``: writes the selected model into ``best_dir``
        instead of the SeisBench pair of :func:`_export_best` (it must write ``best/seisforge.json``).
    on_start
        ``on_start(run)``: called once the run directory exists (extra run files such as accounting).
    command
        The command named in ``run_report.json`` (``train``; ``seisforge adapt`` sets ``adapt``).
    task
        A window-level task instead of per-sample picking (``seisforge.train.adapt.tasks``): it prepares
        the splits (``prepare(train, dev, model) -> (train, dev)``), gives the target augmentation
        that replaces the Gaussian labeller (``target(label_columns, n_samples)``, ``target_shape``),
        the loss (``loss(pred, y)``), the dev metrics (``evaluate(model, loader, device)``), the
        ``metric_fields`` of ``metrics.csv``, the allowed ``selection_metrics`` (all lower-is-better)
        and the epoch line (``summary(dev)``). None: picking, unchanged.
    dev_extra, dev_extra_fields
        Picking only: ``dev_extra(model) -> dict`` adds dev metrics (named in ``dev_extra_fields``, all
        lower-is-better, each a valid ``train.early_stopping_metric`` and a ``metrics.csv`` column) after
        the dev-window metrics of every epoch; distillation measures agreement with the teacher on a
        continuous dev day with it.
    """

    build: Callable[[TrainConfig], Any] | None = None
    select_train: Callable[[SplitData], SplitData] | None = None
    export: Callable[..., None] | None = None
    on_start: Callable[[Any], None] | None = None
    task: Any = None
    dev_extra: Callable[[Any], dict] | None = None
    dev_extra_fields: tuple[str, ...] = ()
    command: str = "train"


def _metric_fields(run: _Run) -> list[str]:
    """The columns of ``metrics.csv``: the task's, or picking's :data:`METRIC_FIELDS`."""
    if run.hooks.task is not None:
        return run.hooks.task.metric_fields
    return [*METRIC_FIELDS, *run.hooks.dev_extra_fields]


METRIC_FIELDS = ["epoch", "global_step", "train_loss", "dev_loss", "dev_P_rms_s", "dev_S_rms_s", "dev_P_mae_s",
                 "dev_S_mae_s", "lr", "bad_traces", "elapsed_s"]


@dataclass
class _Run:
    """Everything one training session holds; ``state`` is what a checkpoint resumes from."""

    cfg: TrainConfig
    rank: int
    world: int
    device: str
    precision: str
    amp_dtype: Any
    model: Any
    model_source: str
    net: Any  # the model, or its DistributedDataParallel wrapper
    teacher: Any
    teacher_order: list[int] | None
    labels: str
    train_data: SplitData
    dev_data: SplitData
    train_gen: SeededGenerator
    sampler: OffsetSampler
    loader_args: dict
    dev_loader: Any
    steps_per_epoch: int
    opt: Any
    sched: Any
    scaler: Any
    state: dict
    run_dir: Path = Path()
    hooks: LoopHooks = field(default_factory=LoopHooks)
    t0: float = 0.0
    steps_this_run: int = 0

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / "metrics.csv"


def train(cfg: TrainConfig, resume: str | Path | None = None, overrides: list[str] | None = None,
          on_epoch=None, hooks: LoopHooks | None = None) -> Path:
    """Train (or fine-tune) a picker; returns the run directory.

    Set-up, then per epoch: the optimiser steps (:func:`_train_epoch`), evaluation on dev
    (:func:`_evaluate`), selection of the best model and a checkpoint (:func:`_end_epoch`), until the
    last epoch or early stopping; then :func:`_finish`.

    Parameters
    ----------
    cfg
        The resolved configuration.
    resume
        A run directory to continue from its ``checkpoints/last.pt``.
    overrides
        The ``--set`` strings, recorded in ``env.json``.
    on_epoch
        Optional callback receiving each epoch's metrics row (used by ``seisforge tune``).
    hooks
        Replacements for the model, the train subset and the export (:class:`LoopHooks`).
    """
    run = _set_up(cfg, resume, overrides, hooks or LoopHooks())
    while run.state["epoch"] < cfg.train.epochs:
        if not _train_epoch(run):
            _write_run_report(run, stopped="stop_after_steps")  # resumable; --resume rewrites it
            return run.run_dir  # train.stop_after_steps: checkpoint saved mid-epoch
        if _end_epoch(run, _evaluate(run), on_epoch):
            break
    _finish(run)
    return run.run_dir


# ----------------------------------------------------------------------------- set-up
def _set_up(cfg: TrainConfig, resume: str | Path | None, overrides: list[str] | None, hooks: LoopHooks) -> _Run:
    """Seeds, device, model, data, optimiser, then a new run directory or the resumed checkpoint.

    The order is fixed: the model's initial weights and every later draw come from the generators
    seeded first, so a run (and its resumption) is reproducible.
    """
    _validate(cfg, hooks.task, tuple(hooks.dev_extra_fields))
    seed_everything(cfg.seed)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    rank, world, local_rank = init_distributed()
    device = resolve_device(cfg.device, local_rank)
    amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(cfg.precision)
    precision = cfg.precision if (amp_dtype is not None and device.startswith("cuda")) else "fp32"
    if precision != cfg.precision:
        log.warning("precision %s needs a GPU; running fp32 (recorded in env.json)", cfg.precision)

    student = hooks.build(cfg) if hooks.build is not None else build_picker(cfg.model)
    model = student.model
    teacher = _load_teacher(cfg, model, device)
    labels = label_string(model)
    teacher_order = [label_string(teacher).index(c) for c in labels] if teacher is not None else None
    datasets, manifest = open_training_datasets(cfg.data, model.sampling_rate, model.component_order)
    overlap_note = _leakage_check(cfg, datasets, manifest)
    train_data, dev_data, label_cols = _splits(cfg, datasets, manifest)
    if hooks.select_train is not None:
        train_data = hooks.select_train(train_data)
    if hooks.task is not None:
        train_data, dev_data = hooks.task.prepare(train_data, dev_data, model)
    train_gen, dev_gen = _generators(cfg, model, labels, label_cols, train_data, dev_data, hooks.task)
    n_epoch = max(len(train_data), cfg.train.min_samples_per_epoch or 0)
    sampler = OffsetSampler(len(train_data), cfg.seed, rank=rank, world_size=world, weights=train_data.weights,
                            length=n_epoch)
    loader_args = dict(batch_size=cfg.train.batch_size, num_workers=cfg.train.num_workers,
                       worker_init_fn=worker_init_fn)
    dev_loader = torch.utils.data.DataLoader(dev_gen, shuffle=False, **loader_args)
    steps_per_epoch = math.ceil(math.ceil(n_epoch / world) / cfg.train.batch_size)
    if cfg.train.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.train.steps_per_epoch)

    model.to(device)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device.startswith("cuda") else None)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_schedule(cfg, steps_per_epoch * cfg.train.epochs))
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best": float("inf"), "bad_epochs": 0,
             "bad_traces": 0, "train_loss_sum": 0.0, "train_loss_n": 0}
    run = _Run(cfg=cfg, rank=rank, world=world, device=device, precision=precision, amp_dtype=amp_dtype,
               model=model, model_source=student.source, net=net, teacher=teacher, teacher_order=teacher_order, labels=labels,
               train_data=train_data, dev_data=dev_data, train_gen=train_gen, sampler=sampler,
               loader_args=loader_args, dev_loader=dev_loader, steps_per_epoch=steps_per_epoch, opt=opt, sched=sched, scaler=scaler, state=state,
               hooks=hooks)
    if resume is not None:
        _restore(run, Path(resume))
    else:
        run.run_dir = _broadcast(_run_dir(cfg) if rank == 0 else None, world)
        if rank == 0:
            _write_run_files(run)
    if rank == 0 and hooks.on_start is not None:
        hooks.on_start(run)
    if rank == 0:
        _write_env(run, resume is not None, overrides, overlap_note)
        if not run.metrics_path.exists():
            with open(run.metrics_path, "w", newline="") as f:
                csv.writer(f).writerow(_metric_fields(run))
    run.t0 = time.time()
    return run


def _generators(cfg: TrainConfig, model, labels: str, label_cols: dict[str, str], train_data: SplitData,
                dev_data: SplitData, task: Any) -> tuple[SeededGenerator, SeededGenerator]:
    """The seeded train and dev sample generators (a task's target replaces the picking labels)."""
    gen_args = dict(seed=cfg.seed, in_samples=int(model.in_samples), n_channels=len(model.component_order),
                    n_classes=len(labels), y_shape=task.target_shape if task is not None else None)

    def target():
        return task.target(label_cols, int(model.in_samples)) if task is not None else None

    train_gen = SeededGenerator(train_data, build_augmentations(model, cfg.augment, cfg.labels, label_cols,
                                                                train_data.noise_dataset(), train=True,
                                                                target=target()), **gen_args)
    dev_gen = SeededGenerator(dev_data, build_augmentations(model, cfg.augment, cfg.labels, label_cols,
                                                            train=False, target=target()), **gen_args)
    return train_gen, dev_gen


def _splits(cfg: TrainConfig, datasets, manifest) -> tuple[SplitData, SplitData, dict[str, str]]:
    """Train and dev splits (both must be non-empty) and the pick columns of the data."""
    train_data = SplitData(datasets, cfg.data.train_split, manifest)
    dev_data = SplitData(datasets, cfg.data.dev_split, manifest)
    if len(train_data) == 0:
        raise DataError(f"no traces in split {cfg.data.train_split!r}")
    if len(dev_data) == 0:
        raise DataError(f"no traces in split {cfg.data.dev_split!r}; early stopping needs dev data")
    label_cols = {}
    for ds in datasets:
        label_cols.update(phase_columns(ds.metadata))
    if not label_cols:
        raise DataError("training data have no pick columns (trace_p_arrival_sample, ...)")
    return train_data, dev_data, label_cols


def _lr_schedule(cfg: TrainConfig, total_steps: int):
    """Learning-rate factor per step: linear warm-up, then cosine decay to 0 (or constant).

    A plain function (not a callable object), so that ``LambdaLR.state_dict`` stores no state for it.
    """
    def lr_lambda(step):
        if cfg.optim.warmup_steps and step < cfg.optim.warmup_steps:
            return (step + 1) / cfg.optim.warmup_steps
        if cfg.optim.schedule == "cosine":
            prog = (step - cfg.optim.warmup_steps) / max(1, total_steps - cfg.optim.warmup_steps)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, prog)))
        return 1.0

    return lr_lambda


def _restore(run: _Run, run_dir: Path) -> None:
    """Load model, optimiser, scheduler, scaler, loop state and RNG state from ``checkpoints/last.pt``."""
    ck_path = Path(run_dir) / "checkpoints/last.pt"
    try:
        ck = read_checkpoint(run_dir)
        run.model.load_state_dict(ck["model"])
        run.opt.load_state_dict(ck["optimizer"])
        run.sched.load_state_dict(ck["scheduler"])
        run.scaler.load_state_dict(ck["scaler"])
        run.state.update(json.loads(ck["state"]))
        _set_rng_state(ck["rng"])
    except DataError:
        raise
    except Exception as err:  # truncated, not a torch archive, or not this run's checkpoint
        raise DataError(
            f"--resume: checkpoint {ck_path} is unreadable or does not match this run "
            f"({first_line(err)}); restore it or start a new run"
        ) from err
    run.run_dir = run_dir
    log.info("resuming %s at epoch %d step %d", run_dir, run.state["epoch"], run.state["step_in_epoch"])


def _write_run_files(run: _Run) -> None:
    """A new run's resolved config, the hash of its trace list and the list itself."""
    cfg, run_dir, train_data, dev_data = run.cfg, run.run_dir, run.train_data, run.dev_data
    (run_dir / "checkpoints").mkdir(parents=True)
    dump_yaml(asdict(cfg), run_dir / "config.resolved.yaml")
    keys = sorted(f"{k}\t{cfg.data.train_split}" for k in train_data.keys) + sorted(
        f"{k}\t{cfg.data.dev_split}" for k in dev_data.keys)
    (run_dir / "data.sha256").write_text(sha256_lines(keys) + "\n")
    rows = sorted(f"{k}\t{cfg.data.train_split}\t{e}" for k, e in zip(train_data.keys, train_data.events)) + sorted(
        f"{k}\t{cfg.data.dev_split}\t{e}" for k, e in zip(dev_data.keys, dev_data.events))
    (run_dir / "data_traces.tsv").write_text("trace_key\tsplit\tevent_key\n" + "\n".join(rows) + "\n")


def _write_env(run: _Run, resumed: bool, overrides: list[str] | None, overlap_note: dict | None) -> None:
    """``env.json``: the environment of this session; a resumed run keeps the first and appends this one."""
    cfg = run.cfg
    env = environment(device=run.device, precision=run.precision)
    env.update({"world_size": run.world, "config_precision": cfg.precision, "deterministic": cfg.deterministic,
                "overrides": overrides or [], "bench_overlap": overlap_note,
                "model_source": run.model_source,
                "teacher": cfg.loss.kd.teacher, "n_train": len(run.train_data), "n_dev": len(run.dev_data)})
    env_path = run.run_dir / "env.json"
    if resumed and env_path.is_file():  # keep the original, append this session
        first = json.loads(env_path.read_text())
        first.setdefault("resumes", []).append({**env, "from_epoch": run.state["epoch"],
                                                "from_step_in_epoch": run.state["step_in_epoch"]})
        env = first
    env_path.write_text(json.dumps(env, indent=2, default=str))


# ----------------------------------------------------------------------------- one epoch
def _train_epoch(run: _Run) -> bool:
    """The optimiser steps of the current epoch, from ``state["step_in_epoch"]`` when resuming.

    Returns False when ``train.stop_after_steps`` stopped the session (a checkpoint is saved).
    """
    cfg, state = run.cfg, run.state
    epoch = state["epoch"]
    run.train_gen.epoch = epoch
    run.sampler.epoch, run.sampler.start = epoch, state["step_in_epoch"] * cfg.train.batch_size
    loader = torch.utils.data.DataLoader(run.train_gen, sampler=run.sampler, **run.loader_args)
    _train_mode(run)
    bar = tqdm(total=run.steps_per_epoch, initial=state["step_in_epoch"], desc=f"epoch {epoch + 1}/{cfg.train.epochs}",
               unit="step", leave=False, disable=run.rank != 0)
    for batch in loader:
        if state["step_in_epoch"] >= run.steps_per_epoch:
            break
        valid = _count_bad_traces(run, batch)
        if valid.any():
            _optimiser_step(run, batch["X"][valid].to(run.device), batch["y"][valid].to(run.device))
        if step_done(run, bar, cfg.train.stop_after_steps, _save_checkpoint):
            return False
    bar.close()
    return True


def step_done(run, bar, stop_after_steps: int | None, save) -> bool:
    """Bookkeeping after one step (scheduler, step counters, progress bar) of a training or pretraining
    session ``run``; True when ``stop_after_steps`` ends the session, after ``save(run)`` checkpointed."""
    state = run.state
    run.sched.step()
    state["step_in_epoch"] += 1
    state["global_step"] += 1
    run.steps_this_run += 1
    bar.update(1)
    bar.set_postfix(loss=f"{state['train_loss_sum'] / max(state['train_loss_n'], 1):.4f}")
    if stop_after_steps and run.steps_this_run >= stop_after_steps:
        save(run)
        bar.close()
        log.info("stopping after %d steps (train.stop_after_steps); resume with --resume %s",
                 run.steps_this_run, run.run_dir)
        return True
    return False


def _count_bad_traces(run: _Run, batch: dict) -> torch.Tensor:
    """The batch's valid-row mask; traces that failed to load are counted and logged, and too many of
    them stop training (after a checkpoint)."""
    state, cfg = run.state, run.cfg
    valid = batch["valid"].bool()
    state["windows_ok"] = state.get("windows_ok", 0) + int(valid.sum())
    for i in batch["idx"][~valid].tolist():
        state["bad_traces"] += 1
        keys = state.setdefault("bad_trace_keys", [])
        if len(keys) < 20:
            keys.append(str(run.train_data.keys[i]))
        log.warning("trace failed to load: %s", run.train_data.keys[i])
    n_traces = len(run.train_data) + len(run.dev_data)
    if state["bad_traces"] > cfg.data.max_bad_fraction * n_traces:
        _save_checkpoint(run)
        _write_run_report(run, stopped="too_many_bad_traces")
        raise DataError(f"{state['bad_traces']} traces failed to load (> max_bad_fraction "
                        f"{cfg.data.max_bad_fraction} of {n_traces}); see the log for their keys")
    return valid


def _optimiser_step(run: _Run, x: torch.Tensor, y: torch.Tensor) -> None:
    """Forward (mixed precision when configured), loss with the optional distillation term, backward,
    gradient clipping and one optimiser step."""
    cfg = run.cfg
    with torch.autocast(device_type="cuda", dtype=run.amp_dtype, enabled=run.precision != "fp32"):
        pred = _forward(run.net, x).float()
        if run.hooks.task is not None:
            loss = run.hooks.task.loss(pred, y)
        else:
            loss = losses.data_loss(cfg.loss.kind, pred, y, cfg.loss.gamma, cfg.loss.class_weights)
        kd = None
        if run.teacher is not None:
            with torch.no_grad():
                tp = _forward(run.teacher, x).float()[:, run.teacher_order]
            kd = losses.kd_term(pred, tp, cfg.loss.kd.temperature, multiclass="N" in run.labels)
            k = cfg.loss.kd
            phases = [i for i, c in enumerate(run.labels) if c != "N"]
            if k.l2_weight or k.slope_weight or k.argmax_weight:
                kd = kd + losses.peak_term(pred, tp, phases, k.l2_weight, k.slope_weight, k.slope_lag,
                                           k.argmax_weight, k.argmax_beta)
            if k.top_weight:
                kd = kd + k.top_weight * losses.top_term(pred, tp, phases, k.top_lags)
        loss = losses.total_loss(loss, kd, cfg.loss.kd.alpha)
    run.opt.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    if cfg.optim.grad_clip:
        run.scaler.unscale_(run.opt)
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.optim.grad_clip)
    run.scaler.step(run.opt)
    run.scaler.update()
    run.state["train_loss_sum"] += float(loss.detach())
    run.state["train_loss_n"] += 1


# ----------------------------------------------------------------------------- evaluation
def _evaluate(run: _Run) -> dict:
    """Dev metrics (computed on rank 0, shared with the other ranks)."""
    dev = None
    if run.rank == 0 and run.hooks.task is not None:
        dev = run.hooks.task.evaluate(run.model, run.dev_loader, run.device)
    elif run.rank == 0:
        dev = _dev_metrics(run.model, run.dev_loader, run.cfg, run.labels, run.device,
                           float(run.model.sampling_rate))
        if run.hooks.dev_extra is not None:
            dev.update(run.hooks.dev_extra(run.model))
    dev = _broadcast(dev, run.world)
    _train_mode(run)
    return dev


def _train_mode(run: _Run) -> None:
    """Training mode, with the BatchNorm layers kept in eval mode when ``train.bn_stats`` is ``frozen``."""
    run.model.train()
    if run.cfg.train.bn_stats == "frozen":
        for module in run.model.modules():
            # the base of BatchNorm1d/2d/3d and SyncBatchNorm (models.adapt's BATCH_NORMS would import PEFT)
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


# ----------------------------------------------------------------------------- checkpointing
def _end_epoch(run: _Run, dev: dict, on_epoch) -> bool:
    """Log the epoch, export the model when the selection metric improved, checkpoint; True when early
    stopping ends training."""
    cfg, state = run.cfg, run.state
    epoch = state["epoch"]
    row = {"epoch": epoch + 1, "global_step": state["global_step"],
           "train_loss": state["train_loss_sum"] / max(state["train_loss_n"], 1), **dev,
           "lr": run.sched.get_last_lr()[0], "bad_traces": state["bad_traces"],
           "elapsed_s": round(time.time() - run.t0, 2)}
    if run.rank == 0:
        with open(run.metrics_path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(k) for k in _metric_fields(run)])
    value = dev[cfg.train.early_stopping_metric]
    improved = np.isfinite(value) and value < state["best"]
    if on_epoch is not None and run.rank == 0:
        on_epoch({**row, "run_dir": str(run.run_dir)})
    if run.rank == 0:
        summary = run.hooks.task.summary(dev) if run.hooks.task is not None else (
            f"dev_loss {dev['dev_loss']:.4f}  dev_P_rms {dev['dev_P_rms_s']:.3f}s  dev_S_rms {dev['dev_S_rms_s']:.3f}s")
        print(f"epoch {epoch + 1}/{cfg.train.epochs}  train_loss {row['train_loss']:.4f}  {summary}  "
              f"{'*' if improved else ' '}")
    if improved:
        state["best"], state["bad_epochs"] = float(value), 0
        if run.rank == 0:
            _export(run, epoch + 1, float(value))
    else:
        state["bad_epochs"] += 1
    state.update({"epoch": epoch + 1, "step_in_epoch": 0, "train_loss_sum": 0.0, "train_loss_n": 0})
    _save_checkpoint(run)
    if state["bad_epochs"] >= cfg.train.patience:
        print(f"early stopping: no {cfg.train.early_stopping_metric} improvement for {cfg.train.patience} epochs")
        return True
    return False


def _save_checkpoint(run: _Run) -> None:
    """``checkpoints/last.pt`` (rank 0): weights, optimiser, scheduler, scaler, loop and RNG state,
    written to a temporary file first so that an interrupted write never replaces a good checkpoint."""
    if run.rank != 0:
        return
    ck = {"model": run.model.state_dict(), "optimizer": run.opt.state_dict(), "scheduler": run.sched.state_dict(),
          "scaler": run.scaler.state_dict(), "state": json.dumps(run.state), "rng": _rng_state()}
    write_checkpoint(run.run_dir, ck)


def read_checkpoint(run_dir: Path) -> dict:
    """``RUN_DIR/checkpoints/last.pt`` (``weights_only``, on CPU); a DataError when it is missing."""
    ck_path = Path(run_dir) / "checkpoints/last.pt"
    if not ck_path.is_file():
        raise DataError(f"--resume: {ck_path} not found")
    return torch.load(ck_path, weights_only=True, map_location="cpu")


def write_checkpoint(run_dir: Path, ck: dict) -> None:
    """Write ``RUN_DIR/checkpoints/last.pt`` through a temporary file, so that an interrupted write never
    replaces a good checkpoint."""
    tmp = Path(run_dir) / "checkpoints/last.pt.tmp"
    torch.save(ck, tmp)
    tmp.replace(Path(run_dir) / "checkpoints/last.pt")


# ----------------------------------------------------------------------------- finishing
def _finish(run: _Run) -> None:
    """Export the last model when no epoch improved the selection metric; wait for the other ranks."""
    if run.rank == 0 and not (run.run_dir / "best/seisforge.json").exists():
        _export(run, run.state["epoch"], float("nan"))
    _write_run_report(run, stopped="finished")
    if run.world > 1:
        import torch.distributed as dist

        dist.barrier()


def _write_run_report(run: _Run, stopped: str) -> None:
    """``run_report.json`` (rank 0): training windows used, traces that failed to load (with the first
    keys), and how the run ended. Resumed runs count from their checkpoint's state, so the report covers
    the whole run."""
    if run.rank != 0:
        return
    state = run.state
    rep = RunReport(run.hooks.command)
    rep.processed = int(state.get("windows_ok", 0))
    if state["bad_traces"]:
        rep.failed["trace_failed_to_load"] = int(state["bad_traces"])
        rep.examples["failed:trace_failed_to_load"] = list(state.get("bad_trace_keys", []))
    best = float(state["best"])
    rep.notes.update({"stopped": stopped, "epochs_done": int(state["epoch"]),
                      "global_step": int(state["global_step"]), "processed_means": "training windows drawn",
                      "train_traces": len(run.train_data), "dev_traces": len(run.dev_data),
                      "best_" + run.cfg.train.early_stopping_metric: best if np.isfinite(best) else None})
    rep.write(run.run_dir / "run_report.json")


def _leakage_check(cfg: TrainConfig, datasets, manifest) -> dict | None:
    """Refuse training data that overlap the declared benchmark, unless explicitly overridden.

    The report (with ``override`` true when overlap was allowed) goes into ``env.json``.
    """
    if not cfg.data.bench:
        return None
    import pandas as pd

    from seisforge.data.leakage import enforce_no_leakage
    from seisforge.data.manifest_columns import manifest_columns

    splits = [cfg.data.train_split, cfg.data.dev_split]
    if manifest is not None:
        frame = manifest[manifest["split"].isin(splits)]
    else:
        frames = []
        for ds in datasets:
            m = ds.metadata[ds.metadata["split"].isin(splits)]
            cols, _ = manifest_columns(m, str(m["trace_dataset"].iloc[0]) if len(m) else "")
            frames.append(cols)
        frame = pd.concat(frames, ignore_index=True)
    report = enforce_no_leakage(frame, cfg.data.bench, allow_overlap=cfg.data.allow_bench_overlap,
                                bench_dataset=cfg.data.bench_dataset)
    if report.get("override"):
        log.warning("training data overlap the benchmark %s; override recorded in env.json", cfg.data.bench)
    return report
