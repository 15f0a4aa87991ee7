"""Run a wavefield model on CTF pairs and write the ``ctf4science`` result layout.

A run writes one *batch folder*, in the official layout ``results/<dataset>/<method>/<batch_id>/``
(:func:`batch_dir`): ``pair<id>/predictions.npy``, ``pair<id>/evaluation_results.yaml`` (metric -> score),
``pair<id>/config.yaml`` (the resolved model configuration), ``batch_results.yaml`` (``batch_id``,
``pairs: [{pair_id, metrics}]``, E1-E12 and both AvgScores), ``config.resolved.yaml``,
``environment.json`` and ``run_report.json``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seisforge.errors import DataError
from seisforge.runinfo import RunReport, environment, seed_everything, write_json
from seisforge.wavefield.layout import CTFDataset, Split, evaluation_split, validation_split
from seisforge.wavefield.models import build_wavefield_model, resolved_model_config
from seisforge.wavefield.models.base import Task
from seisforge.wavefield.scores import (
    FAIL_SCORE,
    Norm,
    avg_score,
    e_scores,
    official_avg_score,
    score_metrics,
)

log = logging.getLogger(__name__)


@dataclass
class PairResult:
    """Scores (and failure reason) of one pair."""

    pair_id: int
    metrics: dict[str, float]
    failure: str | None = None
    prediction: np.ndarray | None = field(default=None, repr=False)
    fit_s: float = 0.0


def run_pair(
    ds: CTFDataset, split: Split, model_name: str, model_config: dict[str, Any], seed: int,
    norm: Norm = "spectral", log_power: bool = False, validation: bool = False,
) -> PairResult:
    """Fit a fresh model on one split, predict, check the shape and score it.

    On a validation split ``k_short``/``k_long`` are capped at the truth's rows.
    """
    seed_everything(seed)
    model = build_wavefield_model(model_name, model_config, seed)
    rows, space = split.truth_shape
    task = Task(split.pair_id, split.task, rows, space, split.init, ds.delta_t)
    t0 = time.perf_counter()
    model.fit([t.copy() for t in split.train], task)
    pred = np.asarray(model.predict(task), dtype=np.float64)
    elapsed = time.perf_counter() - t0
    if pred.shape != task.shape:
        raise DataError(
            f"model {model_name} returned shape {pred.shape} for pair {split.pair_id}, expected {task.shape}"
        )
    metrics = ds.pair(split.pair_id).metrics
    p = ds.params
    k_short, k_long = p.k_short, p.k_long
    if validation:
        # validation truths can be shorter than k (20 % of a short limited-data matrix): use all rows
        k_short, k_long = min(k_short, rows), min(k_long, rows)
    scores, failure = score_metrics(split.truth, pred, metrics, k_short, k_long, p.modes, norm, log_power)
    return PairResult(split.pair_id, scores, failure, pred, elapsed)


def run_model(
    ds: CTFDataset,
    model_name: str,
    model_config: dict[str, Any] | None,
    pair_ids: list[int],
    out: str | Path | None = None,
    seed: int = 0,
    validation: bool = False,
    norm: Norm = "spectral",
    log_power: bool = False,
    progress: bool = False,
    batch_id: str | None = None,
) -> dict[str, Any]:
    """Run ``model_name`` on ``pair_ids`` (test split, or validation split for tuning).

    ``out`` is the batch folder (see :func:`batch_dir`); ``batch_id`` defaults to its name. A
    prediction with NaN/Inf scores -100 on its metrics with the reason recorded in
    ``batch_results.yaml`` and ``run_report.json``. Returns the batch-results mapping.
    """
    model_config = resolved_model_config(model_name, model_config)
    if batch_id is None and out is not None:
        batch_id = Path(out).name
    report = RunReport(command=f"ctf run {model_name}")
    results: list[PairResult] = []
    it = pair_ids
    if progress:
        from tqdm import tqdm

        it = tqdm(pair_ids, desc=f"{ds.name}/{model_name}", unit="pair")
    for pid in it:
        split = validation_split(ds, pid) if validation else evaluation_split(ds, pid)
        res = run_pair(ds, split, model_name, model_config, seed, norm, log_power, validation)
        results.append(res)
        report.processed += 1
        if res.failure:
            report.fail(res.failure.split(":")[0], key=f"pair{pid}")
            log.warning("pair %d: %s -> scored %s", pid, res.failure, FAIL_SCORE)
    by_pair = {r.pair_id: r.metrics for r in results}
    es = e_scores(by_pair)
    full = set(pair_ids) == set(ds.pairs)
    batch: dict[str, Any] = {
        "batch_id": batch_id,
        "dataset": ds.name,
        "data_dir": str(Path(ds.root).resolve()),
        "model": model_name,
        "split": "validation" if validation else "test",
        "seed": seed,
        "norm": norm,
        "log_power": log_power,
        "pairs": [
            {"pair_id": r.pair_id, "metrics": {k: float(v) for k, v in r.metrics.items()},
             **({"failure": r.failure} if r.failure else {}), "fit_predict_s": round(r.fit_s, 3)}
            for r in results
        ],
        "E": {k: (None if np.isnan(v) else float(v)) for k, v in es.items()},
        # both AvgScores, for a run over all nine pairs only: the official plain mean and the clipped one
        "avg_score_official": _finite_or_none(official_avg_score(es)) if full else None,
        "avg_score_clipped": avg_score(es) if full else None,
    }
    if out is not None:
        write_results(Path(out), ds, model_name, model_config, results, batch, report)
    return batch


def write_results(
    out: Path, ds: CTFDataset, model_name: str, model_config: dict[str, Any], results: list[PairResult],
    batch: dict[str, Any], report: RunReport,
) -> None:
    """Write the ctf4science result layout plus provenance into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for r in results:
        pdir = out / f"pair{r.pair_id}"
        pdir.mkdir(exist_ok=True)
        np.save(pdir / "predictions.npy", r.prediction)
        (pdir / "evaluation_results.yaml").write_text(
            yaml.safe_dump({k: float(v) for k, v in r.metrics.items()}, sort_keys=False)
        )
        (pdir / "config.yaml").write_text(yaml.safe_dump(
            {"dataset": {"name": ds.name, "pair_id": [r.pair_id]},
             "model": {"name": model_name, "batch_id": batch["batch_id"], **model_config},
             "seed": batch["seed"], "norm": batch["norm"], "log_power": batch["log_power"]},
            sort_keys=False,
        ))
    (out / "batch_results.yaml").write_text(yaml.safe_dump(batch, sort_keys=False))
    (out / "config.resolved.yaml").write_text(yaml.safe_dump(
        {"model": model_name, "model_config": model_config, "data": batch["data_dir"], "seed": batch["seed"],
         "pairs": [r.pair_id for r in results], "norm": batch["norm"], "log_power": batch["log_power"],
         "evaluation_params": vars(ds.params)},
        sort_keys=False,
    ))
    write_json(environment(), out / "environment.json")
    report.notes["avg_score_official"] = batch["avg_score_official"]
    report.notes["avg_score_clipped"] = batch["avg_score_clipped"]
    report.write(out / "run_report.json")


def _finite_or_none(v: float) -> float | None:
    return None if np.isnan(v) else float(v)


def batch_dir(top: str | Path, dataset: str, method: str, batch_id: str | None = None) -> Path:
    """The official batch folder ``<top>/results/<dataset>/<method>/<batch_id>`` (as
    ``ctf4science.eval_module.save_results`` builds it from its ``top_dir``).

    ``batch_id`` defaults to ``batch_<UTC yyyymmdd_HHMMSS>``, the official examples' form. An existing
    batch folder that already holds results is refused, so two runs never mix.
    """
    import datetime as _dt

    from seisforge.paths import resolve_under

    if batch_id is None:
        batch_id = "batch_" + _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d_%H%M%S")
    if not batch_id or "/" in batch_id or batch_id in (".", ".."):
        raise DataError(f"--batch-id {batch_id!r} must be a plain folder name")
    path = resolve_under(Path(top), Path("results") / dataset / method / batch_id)
    if (path / "batch_results.yaml").exists():
        raise DataError(f"{path} already holds a batch; choose another --batch-id")
    return path
