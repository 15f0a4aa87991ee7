"""The pretraining loop: seeded, deterministic on request, resumable, DDP-ready; writes the run directory.

It reuses the picker training loop's pieces (:mod:`seisforge.train.loop`): process-group set-up
(``init_distributed``), device choice, run-directory naming, the learning-rate schedule and the RNG state
kept in checkpoints, and :class:`~seisforge.train.data.OffsetSampler` for exact resumption part-way through
an epoch. Masks are drawn from a generator seeded per step, and windows from generators seeded per sample
(:class:`~seisforge.train.pretrain.windows.WindowDataset`), so a resumed run continues bit for bit.

Run directory (the contract read by ``seisforge adapt`` and :func:`load_pretrained_encoder`)::

    encoder.safetensors  encoder.json  model_card.json  config.resolved.yaml  data.sha256  env.json
    loss.csv  checkpoints/last.pt  run_report.json
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from seisforge.config import dump_yaml
from seisforge.errors import ConfigError, DataError
from seisforge.models.card import ModelCard, write_card
from seisforge.models.encoders.pretrained import encoder_args, save_encoder
from seisforge.runinfo import RunReport, environment, seed_everything, worker_init_fn
from seisforge.train.data import OffsetSampler, sample_seed
from seisforge.train.loop import (
    _broadcast,
    _lr_schedule,
    _rng_state,
    _run_dir,
    _set_rng_state,
    init_distributed,
    resolve_device,
)
from seisforge.train.pretrain import objectives as obj
from seisforge.train.pretrain.config import PretrainConfig, validate
from seisforge.train.pretrain.windows import (
    REASONS,
    ContrastiveViews,
    WindowDataset,
    WindowSource,
    data_hash,
    open_source,
)

log = logging.getLogger(__name__)
LOSS_FIELDS = ["epoch", "global_step", "train_loss", "dev_loss", "lr", "windows", "elapsed_s"]
#: the model card's normalisation: PhaseNet's ``std`` rule, as EncoderPicker applies it at inference
NORMALISATION = {"demean": True, "amp_norm": "std", "per_component": False, "detrend": False}


@dataclass
class _Pretrain:
    """Everything one pretraining session holds; ``state`` is what a checkpoint resumes from."""

    cfg: PretrainConfig
    rank: int
    world: int
    device: str
    encoder: Any
    sb_model: Any
    objective: Any
    net: Any
    source: WindowSource
    train_ds: WindowDataset
    sampler: OffsetSampler
    dev: list
    dev_rejects: Counter
    steps_per_epoch: int
    opt: Any
    sched: Any
    state: dict
    init_params: dict | None
    run_dir: Path = Path()
    t0: float = 0.0
    steps_this_run: int = 0


def pretrain(cfg: PretrainConfig, resume: str | Path | None = None, overrides: list[str] | None = None) -> Path:
    """Pretrain an encoder self-supervised; returns the run directory (see the module docstring).

    Parameters
    ----------
    cfg
        The resolved configuration.
    resume
        A run directory to continue from its ``checkpoints/last.pt``.
    overrides
        The ``--set`` strings, recorded in ``env.json``.
    """
    run = _set_up(cfg, resume, overrides)
    while run.state["epoch"] < cfg.train.epochs:
        if not _train_epoch(run):
            return run.run_dir  # train.stop_after_steps: checkpoint saved mid-epoch
        _end_epoch(run)
    if run.world > 1:
        import torch.distributed as dist

        dist.barrier()
    return run.run_dir


# ----------------------------------------------------------------------------- set-up
def _set_up(cfg: PretrainConfig, resume: str | Path | None, overrides: list[str] | None) -> _Pretrain:
    """Seeds, device, data (dev set drawn first: it is the probe for a source without readable windows),
    encoder and objective, optimiser, then a new run directory or the resumed checkpoint."""
    validate(cfg)
    seed_everything(cfg.seed)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    rank, world, local_rank = init_distributed()
    device = resolve_device(cfg.device, local_rank)
    source = open_source(cfg.data, cfg.seed)
    views = _views(cfg)
    dev, dev_rejects = _draw_dev(WindowDataset(source, cfg.data, cfg.seed, cfg.data.dev_windows, dev=True,
                                               views=views), source, cfg.train.batch_size)
    encoder, sb_model = build_encoder(cfg)
    objective = build_objective(cfg, encoder).to(device)
    net = objective
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            objective, device_ids=[local_rank] if device.startswith("cuda") else None)
    train_ds = WindowDataset(source, cfg.data, cfg.seed, cfg.data.windows_per_epoch, views=views)
    sampler = OffsetSampler(len(train_ds), cfg.seed, shuffle=source.block == 1, rank=rank, world_size=world)
    steps = math.ceil(math.ceil(len(train_ds) / world) / cfg.train.batch_size)
    opt = torch.optim.AdamW(objective.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_schedule(cfg, steps * cfg.train.epochs))
    init = ({k: v.detach().clone() for k, v in encoder.named_parameters()}
            if cfg.objective.prior.kind == "l2_to_init" else None)
    state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "train_loss_sum": 0.0, "train_loss_n": 0,
             "windows": 0, "rejects": dict.fromkeys(REASONS, 0)}
    run = _Pretrain(cfg=cfg, rank=rank, world=world, device=device, encoder=encoder, sb_model=sb_model,
                    objective=objective, net=net, source=source, train_ds=train_ds, sampler=sampler, dev=dev,
                    dev_rejects=dev_rejects, steps_per_epoch=steps, opt=opt, sched=sched, state=state,
                    init_params=init)
    if resume is not None:
        _restore(run, Path(resume))
    else:
        run.run_dir = _broadcast(_run_dir(cfg) if rank == 0 else None, world)
        if rank == 0:
            _write_run_files(run)
    if rank == 0:
        _write_env(run, resume is not None, overrides)
    run.t0 = time.time()
    return run


def _views(cfg: PretrainConfig) -> ContrastiveViews | None:
    """The contrastive view maker (with the noise pool when configured), None for MAE."""
    if cfg.objective.kind != "contrastive":
        return None
    pool = None
    if cfg.data.noise_pool:
        from seisforge.data.noise_pool import NoisePool

        pool = NoisePool(cfg.data.noise_pool, sampling_rate=cfg.data.sampling_rate,
                         component_order=cfg.data.components[:3])
    return ContrastiveViews(cfg.objective, cfg.data.window_samples, pool)


def build_encoder(cfg: PretrainConfig) -> tuple[torch.nn.Module, Any]:
    """The encoder to pretrain (seeded by the caller): ``(encoder, seisbench_model or None)``."""
    from seisforge.models.encoders import PatchTransformerEncoder, PhaseNetEncoder

    c = len(cfg.data.components)
    e = cfg.encoder
    if e.kind == "patch_transformer":
        return PatchTransformerEncoder(in_channels=c, **e.args), None
    import seisbench.models as sbm

    base = e.init.split(":", 1)[-1]
    if base not in ("PhaseNet", "PhaseNetLight", "VariableLengthPhaseNet"):
        raise ConfigError(f"encoder.init must be seisbench:PhaseNet, seisbench:PhaseNetLight or "
                          f"seisbench:VariableLengthPhaseNet, got {e.init!r}")
    if e.weights:
        from seisforge.models.registry import load_model

        model = load_model(f"seisbench:{base}", weights=e.weights).model
    else:
        model = getattr(sbm, base)(**{"in_channels": c, "component_order": cfg.data.components,
                                      "sampling_rate": cfg.data.sampling_rate, **e.args})
    if int(model.in_channels) != c:
        raise ConfigError(f"encoder.weights {e.weights} expect {model.in_channels} channels "
                          f"({model.component_order}) but data.components is {cfg.data.components!r}")
    return PhaseNetEncoder.from_seisbench(model), model


def build_objective(cfg: PretrainConfig, encoder: torch.nn.Module) -> torch.nn.Module:
    """The objective module (it owns the encoder, plus its decoder or projection head)."""
    o = cfg.objective
    if o.kind == "mae":
        return obj.MaeObjective(encoder, len(cfg.data.components), o.mask_ratio, o.target_norm, o.mask_span,
                                o.decoder_hidden)
    return obj.ContrastiveObjective(encoder, o.proj_dim, o.temperature)


def _draw_dev(ds: WindowDataset, source: WindowSource, batch_size: int) -> tuple[list, Counter]:
    """The fixed dev set as batches, and its rejected draws; a DataError with counts when none is readable."""
    items, rejects = [], Counter()
    for i in tqdm(range(len(ds)), desc="dev windows", unit="win", leave=False):
        item = ds[i]
        rejects.update({r: int(n) for r, n in zip(REASONS, item["rejects"].tolist()) if n})
        if item["valid"]:
            items.append(item)
    if not items:
        raise DataError(f"pretrain source has no readable windows: {len(ds) * ds.cfg.max_tries} draws at most, "
                        f"rejected per reason {dict(rejects)}; unit problems {dict(source.report.failed)}, "
                        f"{dict(source.report.skipped)}")
    keys = [k for k in ("x", "x1", "x2") if k in items[0]]
    batches = [{k: torch.stack([it[k] for it in items[a:a + batch_size]]) for k in keys}
               for a in range(0, len(items), batch_size)]
    return batches, rejects


def _restore(run: _Pretrain, run_dir: Path) -> None:
    """Load weights, optimiser, scheduler, loop state and RNG state from ``checkpoints/last.pt``."""
    ck_path = run_dir / "checkpoints/last.pt"
    if not ck_path.is_file():
        raise DataError(f"--resume: {ck_path} not found")
    ck = torch.load(ck_path, weights_only=True, map_location="cpu")
    run.objective.load_state_dict(ck["model"])
    run.opt.load_state_dict(ck["optimizer"])
    run.sched.load_state_dict(ck["scheduler"])
    run.state.update(json.loads(ck["state"]))
    if "init_params" in ck and run.init_params is not None:
        run.init_params = ck["init_params"]
    _set_rng_state(ck["rng"])
    run.run_dir = run_dir
    log.info("resuming %s at epoch %d step %d", run_dir, run.state["epoch"], run.state["step_in_epoch"])


def _write_run_files(run: _Pretrain) -> None:
    """A new run's resolved config, data hash and loss-curve header."""
    (run.run_dir / "checkpoints").mkdir(parents=True)
    dump_yaml(asdict(run.cfg), run.run_dir / "config.resolved.yaml")
    (run.run_dir / "data.sha256").write_text(data_hash(run.source) + "\n")
    with open(run.run_dir / "loss.csv", "w", newline="") as f:
        csv.writer(f).writerow(LOSS_FIELDS)


def _write_env(run: _Pretrain, resumed: bool, overrides: list[str] | None) -> None:
    """``env.json``: this session's environment; a resumed run keeps the first and appends this one."""
    env = environment(device=run.device, precision="fp32")
    env.update({"world_size": run.world, "deterministic": run.cfg.deterministic, "overrides": overrides or [],
                "n_units": run.source.n_units, "num_workers": run.cfg.train.num_workers})
    path = run.run_dir / "env.json"
    if resumed and path.is_file():
        first = json.loads(path.read_text())
        first.setdefault("resumes", []).append({**env, "from_global_step": run.state["global_step"]})
        env = first
    path.write_text(json.dumps(env, indent=2, default=str))


# ----------------------------------------------------------------------------- training
def _train_epoch(run: _Pretrain) -> bool:
    """The optimiser steps of the current epoch (from ``step_in_epoch`` when resuming); False when
    ``train.stop_after_steps`` ended the session (a checkpoint is saved)."""
    cfg, state = run.cfg, run.state
    run.train_ds.epoch = run.sampler.epoch = state["epoch"]
    run.sampler.start = state["step_in_epoch"] * cfg.train.batch_size
    loader = torch.utils.data.DataLoader(run.train_ds, sampler=run.sampler, batch_size=cfg.train.batch_size,
                                         num_workers=cfg.train.num_workers, worker_init_fn=worker_init_fn)
    run.objective.train()
    bar = tqdm(total=run.steps_per_epoch, initial=state["step_in_epoch"], unit="step", leave=False,
               desc=f"pretrain epoch {state['epoch'] + 1}/{cfg.train.epochs}", disable=run.rank != 0)
    for batch in loader:
        if state["step_in_epoch"] >= run.steps_per_epoch:
            break
        for r, n in zip(REASONS, batch["rejects"].sum(0).tolist()):
            state["rejects"][r] += int(n)
        valid = batch["valid"].bool()
        if valid.sum() > 1:  # InfoNCE needs two windows; a lone window carries no contrast
            _optimiser_step(run, {k: batch[k][valid].to(run.device) for k in ("x", "x1", "x2") if k in batch})
        run.sched.step()
        state["step_in_epoch"] += 1
        state["global_step"] += 1
        run.steps_this_run += 1
        bar.update(1)
        bar.set_postfix(loss=f"{state['train_loss_sum'] / max(state['train_loss_n'], 1):.4f}")
        if cfg.train.stop_after_steps and run.steps_this_run >= cfg.train.stop_after_steps:
            _save_checkpoint(run)
            bar.close()
            log.info("stopping after %d steps; resume with --resume %s", run.steps_this_run, run.run_dir)
            return False
    bar.close()
    return True


def _loss(run: _Pretrain, batch: dict, generator: torch.Generator, net=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Objective loss and encoder features of one batch."""
    net = net or run.net
    if "x" in batch:
        return net(batch["x"], generator)
    return net(batch["x1"], batch["x2"])


def _optimiser_step(run: _Pretrain, batch: dict) -> None:
    """Loss (+ weighted prior), backward, gradient clipping, one AdamW step."""
    cfg = run.cfg
    gen = torch.Generator().manual_seed(sample_seed(cfg.seed, run.state["epoch"], run.state["global_step"]))
    loss, feats = _loss(run, batch, gen)
    prior = cfg.objective.prior
    if prior.kind != "none" and prior.weight:
        loss = loss + prior.weight * obj.prior_term(prior.kind, run.encoder, run.init_params, feats)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.optim.grad_clip:
        torch.nn.utils.clip_grad_norm_(run.objective.parameters(), cfg.optim.grad_clip)
    run.opt.step()
    run.state["train_loss_sum"] += float(loss.detach())
    run.state["train_loss_n"] += 1
    run.state["windows"] += len(next(iter(batch.values())))


def dev_loss(run: _Pretrain) -> float:
    """Objective loss on the fixed dev windows (fixed masks), without the prior."""
    run.objective.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for k, batch in enumerate(run.dev):
            gen = torch.Generator().manual_seed(sample_seed(run.cfg.seed, -1, k))
            loss, _ = _loss(run, {key: v.to(run.device) for key, v in batch.items()}, gen, net=run.objective)
            size = len(next(iter(batch.values())))
            total, n = total + float(loss) * size, n + size
    run.objective.train()
    return total / max(n, 1)


def _end_epoch(run: _Pretrain) -> None:
    """Dev loss, a loss-curve row, the encoder files and a checkpoint."""
    state = run.state
    if state["train_loss_n"] == 0:
        raise DataError(f"epoch {state['epoch'] + 1}: no readable training windows; rejected draws per reason "
                        f"{ {k: v for k, v in state['rejects'].items() if v} }")
    dev = dev_loss(run) if run.rank == 0 else None
    dev = _broadcast(dev, run.world)
    row = {"epoch": state["epoch"] + 1, "global_step": state["global_step"],
           "train_loss": state["train_loss_sum"] / state["train_loss_n"], "dev_loss": dev,
           "lr": run.sched.get_last_lr()[0], "windows": state["windows"],
           "elapsed_s": round(time.time() - run.t0, 2)}
    state.update({"epoch": state["epoch"] + 1, "step_in_epoch": 0, "train_loss_sum": 0.0, "train_loss_n": 0})
    if run.rank != 0:
        return
    with open(run.run_dir / "loss.csv", "a", newline="") as f:
        csv.writer(f).writerow([row[k] for k in LOSS_FIELDS])
    print(f"epoch {row['epoch']}/{run.cfg.train.epochs}  train_loss {row['train_loss']:.4f}  "
          f"dev_loss {dev:.4f}  windows {row['windows']}")
    _save_checkpoint(run)
    write_outputs(run)


def _save_checkpoint(run: _Pretrain) -> None:
    """``checkpoints/last.pt`` (rank 0): weights (encoder + objective head), optimiser, scheduler, loop and
    RNG state; written to a temporary file first."""
    if run.rank != 0:
        return
    ck = {"model": run.objective.state_dict(), "optimizer": run.opt.state_dict(),
          "scheduler": run.sched.state_dict(), "state": json.dumps(run.state), "rng": _rng_state()}
    if run.init_params is not None:
        ck["init_params"] = run.init_params
    tmp = run.run_dir / "checkpoints/last.pt.tmp"
    torch.save(ck, tmp)
    tmp.replace(run.run_dir / "checkpoints/last.pt")


# ----------------------------------------------------------------------------- outputs
def write_outputs(run: _Pretrain) -> None:
    """``encoder.safetensors``, ``encoder.json``, ``model_card.json`` and ``run_report.json``."""
    cfg, d = run.cfg, run.cfg.data
    kind, args = encoder_args(run.encoder, run.sb_model)
    save_encoder(run.run_dir, run.encoder, {
        "kind": kind, "args": args, "in_channels": len(d.components), "component_order": d.components,
        "sampling_rate": float(d.sampling_rate), "window_samples": int(d.window_samples)})
    n_enc = sum(p.numel() for p in run.encoder.parameters())
    n_all = sum(p.numel() for p in run.objective.parameters())
    card = ModelCard(
        model_class=type(run.encoder).__name__, sampling_rate=float(d.sampling_rate),
        window_samples=int(d.window_samples), component_order=d.components, labels="none",
        normalisation=dict(NORMALISATION), label_convention={"labels": "none: self-supervised encoder"},
        training={"method": "pretrain", "objective": asdict(cfg.objective),
                  "data_hash": (run.run_dir / "data.sha256").read_text().strip(),
                  "provenance": run.source.provenance(), "encoder_kind": kind, "encoder_init": cfg.encoder.init,
                  "encoder_weights": cfg.encoder.weights, "seed": cfg.seed, "epochs": run.state["epoch"],
                  "steps": run.state["global_step"], "windows_seen": run.state["windows"]},
        parameters={"total": n_enc, "encoder": n_enc, "objective_head_not_saved": n_all - n_enc})
    write_card(card, run.run_dir)
    _report(run).write(run.run_dir / "run_report.json")


def _report(run: _Pretrain) -> RunReport:
    """The run report: windows used, rejected draws per reason (train and dev), unit-level problems."""
    rep = RunReport("pretrain")
    rep.processed = run.state["windows"]
    for r, n in run.state["rejects"].items():
        if n:
            rep.skip(r, n=n)
    for r, n in run.dev_rejects.items():
        rep.skip(f"dev_{r}", n=n)
    rep.failed.update(run.source.report.failed)
    rep.handled.update(run.source.report.handled)
    rep.examples.update(run.source.report.examples)
    rep.notes.update({"unit_skips": dict(run.source.report.skipped),
                      "dev_windows": sum(len(next(iter(b.values()))) for b in run.dev),
                      "counting": "skipped: rejected window draws per QC/unit reason (never zero-filled); "
                                  "unit-level counts (failed, handled, unit_skips) are those met in the main "
                                  "process (all of them with num_workers 0)"})
    return rep
