"""``seisforge tune``: hyperparameter search for pickers with Ray Tune + ASHA.

Each trial is an ordinary training run (its own run directory under ``OUT/trials``) whose config is the
base config with the sampled values applied as ``--set`` overrides (search-space keys are dotted config
keys such as ``optim.lr``). Every epoch reports the dev metrics; ASHA stops weak trials early on the
objective, which must be a dev metric (test data are never read). The best config (resolved YAML) and
the trial table are written to ``OUT``.
"""

from __future__ import annotations

import json
from pathlib import Path

from seisforge.config import apply_overrides, dump_yaml, from_dict, load_yaml
from seisforge.errors import ConfigError
from seisforge.train.config import TrainConfig
from seisforge.train.loop import LOWER_IS_BETTER


def tune_picker(config_path: str | Path, space_path: str | Path, samples: int, out: str | Path,
                overrides: list[str] | None = None, metric: str = "dev_loss", address: str | None = None,
                cpus_per_trial: float = 1.0) -> dict:
    """Run the search; returns ``{"best_config", "best_metric", "trials_csv", "best_config_yaml"}``."""
    from seisforge.tuning import load_space, report, run_asha

    if metric not in LOWER_IS_BETTER:
        raise ConfigError(f"tune objective must be a dev metric: one of {LOWER_IS_BETTER}")
    base = apply_overrides(load_yaml(config_path), overrides)
    from_dict(TrainConfig, json.loads(json.dumps(base)))  # fail fast on a bad base config
    space = load_space(space_path)
    for key in space.params:
        probe = json.loads(json.dumps(base))
        apply_overrides(probe, [f"{key}=0"])
        try:
            from_dict(TrainConfig, probe)
        except ConfigError as err:
            if "unknown key" in str(err):
                raise ConfigError(f"search space key {key!r} is not a training config key") from err
    out = Path(out).resolve()
    trials_root = out / "trials"

    def trainable(params: dict) -> None:
        from ray import tune as ray_tune

        from seisforge.train.loop import train

        d = json.loads(json.dumps(base))
        apply_overrides(d, [f"{k}={json.dumps(v)}" for k, v in params.items()])
        ctx = ray_tune.get_context()
        d.setdefault("run", {})
        d["run"]["root"] = str(trials_root)
        d["run"]["name"] = f"trial_{ctx.get_trial_id()}"
        d.setdefault("train", {})["epochs"] = space.max_t
        cfg = from_dict(TrainConfig, d)
        train(cfg, overrides=[f"{k}={v}" for k, v in params.items()],
              on_epoch=lambda row: report({k: v for k, v in row.items() if isinstance(v, (int, float))}))

    res = run_asha(trainable, space, samples, metric=metric, mode="min", address=address,
                   storage_path=out / "ray", name="tune", cpus_per_trial=cpus_per_trial)
    out.mkdir(parents=True, exist_ok=True)
    best = json.loads(json.dumps(base))
    apply_overrides(best, [f"{k}={json.dumps(v)}" for k, v in res.best_config.items()])
    dump_yaml(best, out / "best_config.yaml")
    res.trials.to_csv(out / "trials.csv", index=False)
    summary = {"best_config": res.best_config, "best_metric": res.best_metric, "metric": metric,
               "trials_csv": str(out / "trials.csv"), "best_config_yaml": str(out / "best_config.yaml"),
               "errors": res.errors}
    (out / "tune_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
