"""CTF tuning: maximise the sum of validation scores over the chosen pairs, as ``ctf4science`` does.

Every trial fits the model on each pair's validation split (:func:`validation_split`) and reports
``score`` = the sum of all metric scores over the pairs. With ``max_t > 1`` the trial reports once per
budget step ``i = 1..max_t``; models with an ``epochs`` field then train ``round(epochs * i / max_t)``
epochs at step ``i`` (a fresh fit per step), so ASHA can stop weak trials after the cheap steps.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from seisforge.config import dump_yaml
from seisforge.runinfo import environment, write_json
from seisforge.tuning import load_space, run_asha
from seisforge.wavefield.layout import read_ctf_dataset
from seisforge.wavefield.models import model_class


def validation_score(data: str, model: str, config: dict[str, Any], pairs: list[int], seed: int = 0) -> float:
    """Sum of validation scores of ``model`` with ``config`` over ``pairs``."""
    from seisforge.wavefield.runner import run_model

    ds = read_ctf_dataset(data)
    batch = run_model(ds, model, config, pairs, out=None, seed=seed, validation=True)
    return float(sum(v for p in batch["pairs"] for v in p["metrics"].values()))


def make_trainable(data: str, model: str, pairs: list[int], max_t: int, seed: int):
    """Function trainable for :func:`run_asha`."""
    has_epochs = "epochs" in {f.name for f in dataclasses.fields(model_class(model).Config)}

    def trainable(config: dict[str, Any]) -> None:
        from seisforge.tuning import report

        steps = max_t if has_epochs else 1
        for i in range(1, steps + 1):
            cfg = dict(config)
            if has_epochs and steps > 1:
                base = int(cfg.get("epochs", dataclasses.asdict(model_class(model).Config())["epochs"]))
                cfg["epochs"] = max(1, round(base * i / steps))
            score = validation_score(data, model, cfg, pairs, seed)
            report({"score": score if math.isfinite(score) else -1e9, "budget_step": i})

    return trainable


def tune_ctf(
    data: str | Path, model: str, space_file: str | Path, samples: int, pairs: str = "all",
    address: str | None = None, out: str | Path = "runs/ctf_tune", seed: int = 0, max_t: int | None = None,
    cpus_per_trial: float = 1.0,
) -> dict[str, Any]:
    """Tune ``model`` on dataset ``data``; writes ``best_config.yaml``, ``trials.csv`` and provenance."""
    data = str(Path(data).resolve())
    ds = read_ctf_dataset(data)
    pair_ids = ds.parse_pairs(pairs)
    space = load_space(space_file)
    if max_t is not None:
        space.max_t = max_t
        space.grace_period = min(space.grace_period, max_t)
    model_class(model)  # unknown names fail before Ray starts
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    res = run_asha(make_trainable(data, model, pair_ids, space.max_t, seed), space, samples, metric="score",
                   mode="max", address=address, storage_path=out / "ray", name=f"{ds.name}_{model}",
                   seed=seed, cpus_per_trial=cpus_per_trial)
    best = {"model": model, "dataset": ds.name, "pairs": pair_ids, "score": res.best_metric,
            "config": res.best_config, "errored_trials": len(res.errors), "errors": res.errors[:5]}
    dump_yaml(res.best_config, out / "best_config.yaml")
    dump_yaml(best, out / "best.yaml")
    res.trials.to_csv(out / "trials.csv", index=False)
    write_json(environment(), out / "environment.json")
    return {"score": res.best_metric, "config": res.best_config, "path": str(out / "best_config.yaml"),
            "errored_trials": len(res.errors)}
