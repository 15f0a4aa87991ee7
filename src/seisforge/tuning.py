"""Generic hyper-parameter tuning with Ray Tune and the ASHA scheduler.

:func:`run_asha` takes any function trainable (``trainable(config)`` that calls :func:`report` once per
budget step), a search space and a metric, and returns the best configuration. The search space is
the typed :class:`SearchSpace` (read from YAML with :func:`load_space`)::

    max_t: 3              # ASHA budget (reports per trial)
    grace_period: 1
    reduction_factor: 2
    params:
      rank: {type: randint, low: 8, high: 64}
      lr: {type: loguniform, low: 1.0e-4, high: 1.0e-2}
      window: {type: choice, values: [4, 8, 16]}
      epochs: {type: constant, value: 30}

Local Ray is started (and stopped) by default; ``address`` joins an existing cluster instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from seisforge.config import from_dict, load_yaml
from seisforge.errors import ConfigError


@dataclass
class ParamSpec:
    """One dimension of a search space."""

    type: Literal["uniform", "loguniform", "randint", "choice", "constant"]
    low: float | None = None
    high: float | None = None
    values: list[Any] | None = None
    value: Any = None


@dataclass
class SearchSpace:
    """A search space plus the ASHA budget settings."""

    params: dict[str, ParamSpec] = field(default_factory=dict)
    max_t: int = 1
    grace_period: int = 1
    reduction_factor: int = 2


def load_space(path: str | Path) -> SearchSpace:
    """Read a search-space YAML into :class:`SearchSpace` (unknown keys raise :class:`ConfigError`)."""
    space = from_dict(SearchSpace, load_yaml(path), where=str(path))
    for name, p in space.params.items():
        if p.type in ("uniform", "loguniform", "randint") and (p.low is None or p.high is None or p.low >= p.high):
            raise ConfigError(f"{path}: params.{name}: {p.type} needs low < high")
        if p.type == "loguniform" and p.low <= 0:
            raise ConfigError(f"{path}: params.{name}: loguniform needs low > 0")
        if p.type == "choice" and not p.values:
            raise ConfigError(f"{path}: params.{name}: choice needs a non-empty values list")
    if space.max_t < 1 or space.grace_period < 1 or space.grace_period > space.max_t:
        raise ConfigError(f"{path}: need 1 <= grace_period <= max_t")
    return space


def to_ray_space(space: SearchSpace) -> dict[str, Any]:
    """Ray Tune sampling objects for the parameters."""
    from ray import tune

    out: dict[str, Any] = {}
    for name, p in space.params.items():
        if p.type == "uniform":
            out[name] = tune.uniform(p.low, p.high)
        elif p.type == "loguniform":
            out[name] = tune.loguniform(p.low, p.high)
        elif p.type == "randint":
            out[name] = tune.randint(int(p.low), int(p.high) + 1)  # inclusive high
        elif p.type == "choice":
            out[name] = tune.choice(list(p.values))
        else:
            out[name] = p.value
    return out


def report(metrics: dict[str, float]) -> None:
    """Report one budget step's metrics from inside a trainable."""
    from ray import tune

    tune.report(metrics)


@dataclass
class TuneResult:
    """Best configuration and all trials."""

    best_config: dict[str, Any]
    best_metric: float
    trials: Any  # pandas.DataFrame
    path: str | None
    errors: list[str] = field(default_factory=list)


def run_asha(
    trainable: Callable[[dict[str, Any]], None],
    space: SearchSpace | dict[str, Any],
    num_samples: int,
    metric: str,
    mode: Literal["max", "min"] = "max",
    address: str | None = None,
    storage_path: str | Path | None = None,
    name: str = "tune",
    seed: int = 0,
    cpus_per_trial: float = 1.0,
    max_concurrent: int | None = None,
) -> TuneResult:
    """Tune ``trainable`` with ASHA early stopping.

    Parameters
    ----------
    trainable
        ``trainable(config)``; calls :func:`report` with ``metric`` once per budget step
        (``training_iteration`` is ASHA's time attribute).
    space
        :class:`SearchSpace`, or a dict of ready Ray Tune sampling objects (then ``max_t=1``).
    num_samples
        Number of sampled configurations.
    metric, mode
        What to optimise.
    address
        Ray cluster address; ``None`` starts a local Ray sized to this machine.
    storage_path
        Folder for trial results (default ``./runs/tune``).
    seed
        Seed of the random search (reproducible samples).
    """
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import BasicVariantGenerator

    if num_samples < 1:
        raise ConfigError("num_samples must be >= 1")
    if isinstance(space, SearchSpace):
        param_space, max_t, grace, rf = to_ray_space(space), space.max_t, space.grace_period, space.reduction_factor
    else:
        param_space, max_t, grace, rf = dict(space), 1, 1, 2
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            env = {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": env})
        started = True
    try:
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=max_t, grace_period=grace,
                                  reduction_factor=rf)
        storage = Path(storage_path or "runs/tune").resolve()
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": cpus_per_trial}),
            param_space=param_space,
            tune_config=tune.TuneConfig(
                metric=metric, mode=mode, scheduler=scheduler, num_samples=num_samples,
                search_alg=BasicVariantGenerator(random_state=seed),
                max_concurrent_trials=max_concurrent,
            ),
            run_config=tune.RunConfig(name=name, storage_path=str(storage), verbose=0),
        )
        grid = tuner.fit()
        errors = [str(r.error) for r in grid if r.error is not None]
        best = grid.get_best_result(metric=metric, mode=mode, scope="all")
        if best is None or best.metrics is None or metric not in best.metrics:
            raise ConfigError(f"tuning produced no result for {metric!r}; trial errors: {errors[:3]}")
        return TuneResult(dict(best.config), float(best.metrics[metric]), grid.get_dataframe(),
                          str(storage / name), errors)
    finally:
        if started:
            ray.shutdown()
