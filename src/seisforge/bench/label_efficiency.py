"""``seisforge bench label-efficiency``: adaptation methods against from-scratch training, per label fraction.

The grid is arms x label fractions x seeds. Each cell is one ``seisforge adapt`` run (event-level label
fraction of the train split, seeded; :mod:`seisforge.train.adapt.run`), predicted on the benchmark targets
(``bench predict``: dev and test windows) and scored (``bench score``: thresholds chosen on dev, test read
once, event-bootstrap CIs). A cell lives in ``OUT/cells/ARM/fFRACTION/sSEED`` and is finished when its
``cell.json`` exists: a rerun skips finished cells and restarts unfinished ones, so the grid resumes where it
stopped; a cell that another live process is running (``running.pid``) is left to it, so the grid can be
run in parallel shards (``only_arms``, ``seeds``). STA/LTA needs no training and is predicted once (``OUT/cells/stalta``).

Every arm is compared with the ``scratch`` arm at the same fraction by a seed-averaged paired event
bootstrap (:func:`seisforge.bench.picking.score.paired_compare_seeds`: seed *i* of the arm against seed
*i* of scratch, one resample of events for all seeds). ``scratch`` is the architecture of ``scratch_like``
(a pretrain run directory) with randomly initialised weights (seeded per cell) trained with ``full``.

Outputs: ``label_efficiency.csv`` and ``.md`` (the table), ``metric_vs_fraction.png`` (per method, CI
bands), ``metric_vs_params.png`` (metric against trainable parameters at ``params_fraction``).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seisforge.errors import ConfigError
from seisforge.runinfo import RunReport, write_json

#: the metrics of the table and figures (pick-benchmark test metrics at dev thresholds)
METRICS = ("test_P_recall", "test_S_recall", "test_P_cond_mae_s", "test_S_cond_mae_s")


@dataclass
class ArmConfig:
    """One arm: a base (``scratch``, ``pretrain:DIR``, ``seisbench:<Class>`` with ``weights``, ``stalta``),
    a method with its settings, and optionally its own fractions and config overrides (``--set`` style)."""

    name: str
    base: str
    method: str = "full"
    weights: str | None = None
    adapt: dict = field(default_factory=dict)
    fractions: list[float] | None = None
    overrides: list[str] = field(default_factory=list)


@dataclass
class LabelEfficiencyConfig:
    """The grid (see module docstring); ``adapt`` holds the fields shared by every cell's adapt config.

    ``only_arms`` runs a subset of the arms (the table still reports every arm with finished cells), so a
    grid can be run in shards or reduced; ``fractions`` of an arm override the grid's. ``summary: false``
    skips the tables and figures (their paired bootstraps over every finished cell take minutes on a busy
    machine), for shards whose summary is written once at the end.
    """

    data: str = ""
    targets: str | None = None
    fractions: list[float] = field(default_factory=lambda: [0.01, 0.05, 0.1, 0.25, 1.0])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    scratch_like: str = ""
    arms: list[dict] = field(default_factory=list)
    adapt: dict = field(default_factory=dict)
    n_boot: int = 200
    only_arms: list[str] | None = None
    params_fraction: float = 0.1
    metric: str = "test_P_recall"
    summary: bool = True


def _arms(cfg: LabelEfficiencyConfig) -> list[ArmConfig]:
    """The arms, checked: unique names, exactly one ``scratch`` arm named ``scratch``."""
    try:
        arms = [ArmConfig(**a) for a in cfg.arms]
    except TypeError as err:
        raise ConfigError(f"label-efficiency arms: {err}") from None
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ConfigError(f"label-efficiency arm names must be unique, got {names}")
    if [a.name for a in arms if a.base == "scratch"] != ["scratch"]:
        raise ConfigError("label-efficiency needs exactly one arm with base: scratch, named scratch")
    if not cfg.scratch_like:
        raise ConfigError("label-efficiency: scratch_like must name a pretrain run (the scratch architecture)")
    if cfg.only_arms is not None:
        unknown = sorted(set(cfg.only_arms) - set(names))
        if unknown:
            raise ConfigError(f"only_arms names unknown arms {unknown}; arms: {names}")
    return arms


def run_grid(cfg: LabelEfficiencyConfig, out: str | Path) -> RunReport:
    """Run (or resume) the grid into ``out`` and write the table and figures."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    arms = _arms(cfg)
    write_json(asdict(cfg), out / "config.json")
    targets = _targets(cfg, out)
    report = RunReport("bench label-efficiency")
    run_arms = [a for a in arms if cfg.only_arms is None or a.name in cfg.only_arms]
    cells = [(arm, f, s) for arm in run_arms if arm.base != "stalta"
             for f in (arm.fractions or cfg.fractions) for s in cfg.seeds]
    from tqdm import tqdm

    for arm, fraction, seed in tqdm(cells, desc="label-efficiency cells", unit="cell"):
        cell = cell_dir(out, arm.name, fraction, seed)
        if (cell / "cell.json").is_file():
            report.skip("cell_already_done")
            continue
        if _running_elsewhere(cell):
            report.skip("cell_running_in_another_process", key=str(cell))
            continue
        try:
            _run_cell(cfg, arm, fraction, seed, cell, targets)
            report.processed += 1
        except ConfigError as err:  # e.g. a fraction that leaves a class empty: recorded, grid goes on
            report.fail("config_error", key=f"{cell}: {err}")
            write_json({"arm": arm.name, "fraction": fraction, "seed": seed, "error": str(err)}, cell / "cell.json")
    if any(a.base == "stalta" for a in run_arms):
        _stalta(cfg, out / "cells" / "stalta", targets)
    if cfg.summary:
        table = summarise(cfg, arms, out)
        write_tables(table, out)
        plot(table, cfg, out)
    report.write(out)
    return report


def _running_elsewhere(cell: Path) -> bool:
    """True when another live process on this machine is running ``cell`` (its ``running.pid``), so that
    shards started on overlapping arms never restart each other's cells."""
    pid_file = cell / "running.pid"
    if not pid_file.is_file():
        return False
    try:
        pid = int(pid_file.read_text().strip())
        if pid == os.getpid():
            return False
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def cell_dir(out: Path, arm: str, fraction: float, seed: int) -> Path:
    """``OUT/cells/ARM/fFRACTION/sSEED``."""
    return out / "cells" / arm / f"f{fraction:g}" / f"s{seed}"


def _targets(cfg: LabelEfficiencyConfig, out: Path) -> Path:
    """The benchmark targets: ``cfg.targets`` or ones generated once into ``OUT/targets`` (seed 0)."""
    if cfg.targets:
        return Path(cfg.targets)
    path = out / "targets"
    if not (path / "task23.csv").is_file():
        from seisforge.bench.picking.targets import generate_targets

        generate_targets(cfg.data, path, seed=0)
    return path


def _run_cell(cfg: LabelEfficiencyConfig, arm: ArmConfig, fraction: float, seed: int, cell: Path,
              targets: Path) -> None:
    """Adapt, predict and score one cell; ``cell.json`` last, so an interrupted cell is redone."""
    from seisforge.bench.picking.predict import predict
    from seisforge.bench.picking.score import score
    from seisforge.config import apply_overrides, from_dict
    from seisforge.train.adapt.run import AdaptRunConfig, adapt

    if cell.exists():
        shutil.rmtree(cell)
    cell.mkdir(parents=True)
    (cell / "running.pid").write_text(f"{os.getpid()}\n")
    base = arm.base
    if base == "scratch":
        base = f"pretrain:{_scratch_base(cfg.scratch_like, cell / 'scratch_base', seed)}"
    data = {**cfg.adapt, "name": "run", "seed": seed, "base": base, "weights": arm.weights,
            "adapt": {**arm.adapt, "method": arm.method}, "label_fraction": fraction, "label_seed": seed,
            "data": {**cfg.adapt.get("data", {}), "path": cfg.data}, "run": {"root": str(cell), "name": "run"}}
    run_cfg = from_dict(AdaptRunConfig, apply_overrides(data, arm.overrides), where=f"arm {arm.name}")
    run_dir = adapt(run_cfg)
    predict(cfg.data, targets, f"run:{run_dir}", cell / "pred")
    metrics = score(cell / "pred", n_boot=cfg.n_boot, seed=0)
    acc = json.loads((run_dir / "accounting.json").read_text())
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # the adapter in best/ is what the table needs
    write_json({"arm": arm.name, "base": arm.base, "method": arm.method, "fraction": fraction, "seed": seed,
                "trainable": acc["trainable"], "trainable_pct": acc["trainable_pct"], "total": acc["total"],
                "metrics": {k: metrics["metrics"].get(k) for k in METRICS},
                "ci95": {k: metrics["ci95"].get(k) for k in METRICS}}, cell / "cell.json")
    (cell / "running.pid").unlink()


def _scratch_base(like: str, out: Path, seed: int) -> Path:
    """A pretrain-shaped run with the architecture of run ``like`` and random weights drawn with ``seed``."""
    from seisforge.models.encoders.pretrained import build_encoder, load_pretrained_encoder, save_encoder

    _, info = load_pretrained_encoder(like)
    encoder, _ = build_encoder(info["kind"], info["args"], init_seed=seed)
    out.mkdir(parents=True)
    # init_seed: a phasenet base's decoder (not in the encoder file) is rebuilt from it, seeded like the encoder
    save_encoder(out, encoder, {**{k: info[k] for k in ("kind", "args", "in_channels", "component_order",
                                                        "sampling_rate", "window_samples")}, "init_seed": seed})
    return out


def _stalta(cfg: LabelEfficiencyConfig, cell: Path, targets: Path) -> None:
    """Predict and score STA/LTA once (it does not train, so it is the same at every fraction)."""
    from seisforge.bench.picking.predict import predict
    from seisforge.bench.picking.score import score

    if not (cell / "pred/metrics.json").is_file():
        predict(cfg.data, targets, "stalta", cell / "pred")
        score(cell / "pred", n_boot=cfg.n_boot, seed=0)


def _pred_dirs(out: Path, arm: ArmConfig, fraction: float, seeds: list[int]) -> list[Path]:
    """Prediction folders of an arm at a fraction, one per seed (STA/LTA: its one folder per seed)."""
    if arm.base == "stalta":
        return [out / "cells" / "stalta" / "pred"] * len(seeds)
    return [cell_dir(out, arm.name, fraction, s) / "pred" for s in seeds]


def summarise(cfg: LabelEfficiencyConfig, arms: list[ArmConfig], out: Path) -> pd.DataFrame:
    """One row per (arm, fraction) with finished cells: seed means and sds, CIs, paired deltas vs scratch."""
    from seisforge.bench.picking.score import paired_compare_seeds

    rows = []
    for arm in arms:
        for fraction in arm.fractions or cfg.fractions:
            dirs = _pred_dirs(out, arm, fraction, cfg.seeds)
            done = [d for d in dirs if (d / "metrics.json").is_file()]
            if not done:
                continue
            mets = [json.loads((d / "metrics.json").read_text()) for d in done]
            cells = [json.loads((d.parent / "cell.json").read_text()) for d in done if (d.parent / "cell.json").is_file()]
            row: dict[str, Any] = {"arm": arm.name, "base": arm.base, "method": arm.method if arm.base != "stalta" else "-",
                                   "fraction": fraction, "n_seeds": len(done),
                                   "trainable": cells[0]["trainable"] if cells else 0,
                                   "trainable_pct": cells[0]["trainable_pct"] if cells else 0.0}
            for k in METRICS:
                vals = np.array([m["metrics"].get(k, np.nan) for m in mets], dtype=float)
                row[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan
                row[f"{k}_sd"] = float(np.nanstd(vals)) if np.isfinite(vals).any() else np.nan
                lo = [m["ci95"].get(k, [np.nan, np.nan])[0] for m in mets]
                hi = [m["ci95"].get(k, [np.nan, np.nan])[1] for m in mets]
                row[f"{k}_ci_lo"], row[f"{k}_ci_hi"] = float(np.nanmean(lo)), float(np.nanmean(hi))
            base_dirs = _pred_dirs(out, next(a for a in arms if a.name == "scratch"), fraction, cfg.seeds)
            pairs = [(b, o) for b, o in zip(base_dirs, dirs)
                     if (b / "metrics.json").is_file() and (o / "metrics.json").is_file()]
            if arm.name != "scratch" and pairs:
                cmp = paired_compare_seeds([b for b, _ in pairs], [o for _, o in pairs], cfg.n_boot, seed=0)
                for k in METRICS:
                    row[f"d_{k}"] = cmp["delta"].get(k, np.nan)
                    row[f"d_{k}_lo"], row[f"d_{k}_hi"] = cmp["ci95"].get(k, [np.nan, np.nan])
                row["n_paired"] = len(pairs)
            rows.append(row)
    return pd.DataFrame(rows)


def write_tables(table: pd.DataFrame, out: Path) -> None:
    """``label_efficiency.csv`` (every column) and ``label_efficiency.md`` (means, sds and paired deltas)."""
    table.to_csv(out / "label_efficiency.csv", index=False)
    lines = ["| arm | method | fraction | seeds | trainable (%) | " + " | ".join(METRICS) + " | "
             + " | ".join(f"Δ{k} vs scratch [95% CI]" for k in METRICS) + " |",
             "|" + "---|" * (5 + 2 * len(METRICS))]
    for _, r in table.iterrows():
        vals = [f"{r[k]:.3f} ± {r[k + '_sd']:.3f}" if np.isfinite(r[k]) else "n/a" for k in METRICS]
        deltas = [f"{r[f'd_{k}']:+.3f} [{r[f'd_{k}_lo']:+.3f}, {r[f'd_{k}_hi']:+.3f}]"
                  if f"d_{k}" in r and np.isfinite(r.get(f"d_{k}", np.nan)) else "-" for k in METRICS]
        lines.append(f"| {r['arm']} | {r['method']} | {r['fraction']:g} | {r['n_seeds']} | "
                     f"{int(r['trainable']):,} ({r['trainable_pct']:.2f}) | " + " | ".join(vals + deltas) + " |")
    (out / "label_efficiency.md").write_text("\n".join(lines) + "\n")


def plot(table: pd.DataFrame, cfg: LabelEfficiencyConfig, out: Path) -> None:
    """Metric vs label fraction (per arm, CI band: seed-mean of each seed's event-bootstrap CI) and metric vs
    trainable parameters at ``cfg.params_fraction``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if table.empty:
        return
    k = cfg.metric
    colours = plt.get_cmap("tab10").colors  # colour-blind-safe enough with markers; arms also differ by marker
    markers = "osD^v<>pX*"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    curves = [(arm, g.sort_values("fraction")) for arm, g in table.groupby("arm", sort=False) if len(g) >= 2]
    for i, (arm, g) in enumerate(curves):  # colours over the drawn arms only, so that no two curves share one
        ax.plot(100 * g["fraction"], g[k], marker=markers[i % len(markers)], color=colours[i % 10], label=arm)
        ax.fill_between(100 * g["fraction"], g[f"{k}_ci_lo"], g[f"{k}_ci_hi"], color=colours[i % 10], alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("label fraction of the train split (%)")
    ax.set_ylabel(k.replace("test_", "test ").replace("_s", " (s)") if k.endswith("_s") else k.replace("_", " "))
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "metric_vs_fraction.png", dpi=120)
    plt.close(fig)
    at = table[(table["fraction"] == cfg.params_fraction) & (table["trainable"] > 0)]
    if at.empty:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    seen: dict[int, int] = {}
    for i, (_, r) in enumerate(at.iterrows()):
        n = seen[int(r["trainable"])] = seen.get(int(r["trainable"]), -1) + 1  # dodge equal counts by 6 % each
        ax.errorbar(r["trainable"] * 1.06 ** n, r[k], yerr=[[r[k] - r[f"{k}_ci_lo"]], [r[f"{k}_ci_hi"] - r[k]]],
                    marker=markers[i % len(markers)], color=colours[i % 10], label=r["arm"], capsize=3)
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (count; equal counts dodged to the right)")
    ax.set_ylabel(k.replace("_", " "))
    ax.set_title(f"at {100 * cfg.params_fraction:g}% labels")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "metric_vs_params.png", dpi=120)
    plt.close(fig)
