"""Scoring of window-level adaptation runs (``seisforge adapt`` with ``task: detection`` or ``magnitude``).

After training, the selected model (``run:DIR``) is run once on the dev split and once on
``eval_split`` (normally test) with the dev pipeline's windows (the dev placement of windows, seeded,
no augmentation; :mod:`seisforge.train.adapt.tasks` defines the targets):

- ``detection``: the threshold on P(event) is the F1-best threshold on dev (the model card's, which
  the run chose at its selected epoch); ``eval_split`` gets ROC AUC, and F1, precision and recall at
  that threshold (scikit-learn);
- ``magnitude``: MAE, RMSE and bias in magnitude units.

Every figure of ``eval_split`` has a 95% event-bootstrap CI (:func:`seisforge.bench.stats.cluster_bootstrap`:
windows of one event are resampled together; noise traces are their own clusters; the threshold stays
fixed). Written to ``RUN_DIR/task_metrics.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seisforge.bench.stats import cluster_bootstrap
from seisforge.config import load_run_config
from seisforge.errors import ConfigError
from seisforge.models.registry import load_model
from seisforge.runinfo import write_json
from seisforge.train.adapt.run import AdaptRunConfig
from seisforge.train.adapt.tasks import (
    WindowTarget,
    best_f1_threshold,
    detection_scores,
    event_probability,
    magnitude_scores,
    predict_windows,
    with_magnitudes,
)
from seisforge.train.data import SeededGenerator, SplitData, build_augmentations, open_training_datasets

METRICS_FILE = "task_metrics.json"


def split_predictions(cfg: AdaptRunConfig, model, split: str) -> dict[str, np.ndarray] | None:
    """Outputs, targets and event ids of every window of ``split`` (None when the split is empty)."""
    from seisforge.data.sources import phase_columns

    datasets, manifest = open_training_datasets(cfg.data, model.sampling_rate, model.component_order)
    data = SplitData(datasets, split, manifest)
    if len(data) == 0:
        return None
    if cfg.task == "magnitude":
        data, _ = with_magnitudes(data, split)
    label_cols: dict[str, str] = {}
    for ds in datasets:
        label_cols.update(phase_columns(ds.metadata))
    target = WindowTarget(cfg.task, label_cols, int(model.in_samples))
    gen = SeededGenerator(data, build_augmentations(model, cfg.augment, cfg.labels, label_cols, train=False,
                                                    target=target),
                          seed=cfg.seed, in_samples=int(model.in_samples), n_channels=len(model.component_order),
                          n_classes=len(model.labels), y_shape=(1,))
    loader = torch.utils.data.DataLoader(gen, batch_size=cfg.train.batch_size, shuffle=False)
    pred, y, idx = predict_windows(model, loader, "cpu")
    return {"pred": pred, "y": y, "events": np.asarray(data.events)[idx]}


def _detection(dev: dict, test: dict | None, card_threshold: float | None, n_boot: int, seed: int) -> dict:
    p_dev = event_probability(dev["pred"])
    threshold, dev_f1 = best_f1_threshold(dev["y"], p_dev)
    out: dict[str, Any] = {"threshold": threshold, "card_threshold": card_threshold,
                           "dev": {**detection_scores(dev["y"], p_dev, threshold), "n_windows": len(p_dev)}}
    if test is not None:
        p, y = event_probability(test["pred"]), test["y"]
        ci = cluster_bootstrap(test["events"], lambda i: detection_scores(y[i], p[i], threshold), n_boot, seed)
        out["eval"] = {**detection_scores(y, p, threshold), "n_windows": len(p), "n_event_windows": int(y.sum()),
                       "ci95": {k: list(v) for k, v in ci.items()}}
    return out


def _magnitude(dev: dict, test: dict | None, n_boot: int, seed: int) -> dict:
    out: dict[str, Any] = {"dev": magnitude_scores(dev["y"], dev["pred"])}
    if test is not None:
        y, pred = test["y"], test["pred"]

        def stat(i: np.ndarray) -> dict[str, float]:
            s = magnitude_scores(y[i], pred[i])
            return {k: s[k] for k in ("mae", "rmse", "bias")}

        ci = cluster_bootstrap(test["events"], stat, n_boot, seed)
        out["eval"] = {**magnitude_scores(y, pred), "n_events": len(set(test["events"][np.isfinite(y)])),
                       "ci95": {k: list(v) for k, v in ci.items()}}
    return out


def score_task_run(run_dir: str | Path, split: str | None = None, n_boot: int | None = None) -> dict[str, Any]:
    """Score the selected model of a detection/magnitude adapt run (see module docstring).

    Parameters
    ----------
    run_dir
        The adaptation run directory.
    split
        Split scored once; default the run's ``eval_split`` (None there: dev only).
    n_boot
        Bootstrap resamples; default the run's ``n_boot``.

    Returns
    -------
    dict
        What ``task_metrics.json`` holds.
    """
    run_dir = Path(run_dir)
    cfg = load_run_config(AdaptRunConfig, None, run_dir)
    if cfg.task not in ("detection", "magnitude"):
        raise ConfigError(f"{run_dir} is a {cfg.task} run; score pickers with seisforge bench predict/score")
    loaded = load_model(f"run:{run_dir}")
    split = split if split is not None else cfg.eval_split
    n_boot = cfg.n_boot if n_boot is None else n_boot
    dev = split_predictions(cfg, loaded.model, cfg.data.dev_split)
    test = split_predictions(cfg, loaded.model, split) if split else None
    if cfg.task == "detection":
        thr = (loaded.card.thresholds.get("E") if loaded.card is not None else None)
        scores = _detection(dev, test, thr, n_boot, cfg.seed)
    else:
        scores = _magnitude(dev, test, n_boot, cfg.seed)
    info = json.loads((run_dir / "best/seisforge.json").read_text())
    result = {"task": cfg.task, "method": info.get("method"), "selected_epoch": info.get("epoch"),
              "selection_metric": info.get("selection_metric"), "eval_split": split if test is not None else None,
              "eval_note": None if not split or test is not None else f"split {split!r} has no traces",
              "n_boot": n_boot, **scores}
    write_json(result, run_dir / METRICS_FILE)
    return result
