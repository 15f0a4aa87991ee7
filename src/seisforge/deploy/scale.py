"""Scale-out: station-days as Ray tasks with retries (local Ray or an existing cluster).

Each task runs the per-unit pipeline it is given (:func:`seisforge.deploy.runner.process_unit`, which
writes the unit's own Parquet and state files), so results equal a single-process run. Worker processes
load the model once (:func:`~seisforge.deploy.runner.get_picker` caches it) and use one thread unless
``--threads`` says otherwise.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seisforge.data.continuous.sources import StationDay
from seisforge.deploy.settings import PickSettings
from seisforge.errors import ConfigError

#: the per-unit pipeline a task runs: ``(unit, settings, out_dir) -> unit state``
UnitTask = Callable[[StationDay, PickSettings, str], dict[str, Any]]


#: seconds ``ray.init`` may take before the run gives up (env ``SEISFORGE_RAY_START_TIMEOUT_S``)
RAY_START_TIMEOUT_S = 120.0


def _bounded_init(ray: Any, what: str, kwargs: dict[str, Any]) -> None:
    """``ray.init`` with a time limit (SIGALRM; main thread only, where ``ray.init`` must run anyway).

    A Ray start that hangs (a cluster address that never answers, a stuck local start on an overloaded
    machine) ends the run with a clear error instead of blocking it. ``ray.init`` cannot run in a
    helper thread: the processes it starts are tied to the starting thread (parent-death signal) and
    die when it ends.
    """
    import signal
    import threading

    limit = float(os.environ.get("SEISFORGE_RAY_START_TIMEOUT_S", RAY_START_TIMEOUT_S))
    if threading.current_thread() is not threading.main_thread():
        ray.init(**kwargs)
        return

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expired)
    on_term = signal.getsignal(signal.SIGTERM)  # ray.init installs sys.exit on SIGTERM; keep the caller's
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        ray.init(**kwargs)
    except TimeoutError:
        raise ConfigError(f"Ray did not start within {limit:.0f} s ({what}); check `ray status`, or run "
                          "without --workers/--address") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        signal.signal(signal.SIGTERM, on_term)


def run_ray(units: list[StationDay], settings: PickSettings, out_dir: str, workers: int,
            address: str | None, max_retries: int, done: Callable[[dict[str, Any]], None], bar: Any,
            task: UnitTask, stop: Callable[[], bool] | None = None) -> list[tuple[str, str]]:
    """Run ``task`` on each of ``units`` as a Ray task; ``done`` is called with each finished unit's state.

    ``task`` must be a module-level function (Ray workers import it by name). ``stop()`` is polled
    every 0.2 s; when true, unfinished tasks are cancelled (a task killed mid-unit leaves no state, so
    its unit is redone by the next run). Returns ``(unit key, error)`` for units whose retries were
    exhausted.
    """
    try:
        import ray
    except ImportError as err:
        raise ConfigError("--workers/--address need Ray: pip install 'seisforge[scale]'") from err
    import seisforge

    # local workers import this very source tree (also when it is not pip-installed)
    src = str(Path(seisforge.__file__).resolve().parent.parent)
    env = {"PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    # object-storage options (``--storage-options``) travel as fsspec's environment configuration
    env |= {k: v for k, v in os.environ.items() if k.startswith("FSSPEC_")}
    started = False
    if not ray.is_initialized():
        if address:  # cluster workers must have seisforge installed (see docs/deploy.md)
            _bounded_init(ray, address, dict(address=address, log_to_driver=False))
        else:
            _bounded_init(ray, f"a local Ray instance with {workers} CPUs",
                          dict(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                               runtime_env={"env_vars": env}))
        started = True
    if settings.threads is None:
        settings = dataclasses.replace(settings, threads=1)
    remote = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=True)(task)
    pending = {remote.remote(u, settings, out_dir): u for u in units}
    failures = []
    try:
        while pending:
            if stop is not None and stop():
                for ref in pending:
                    ray.cancel(ref, force=True)
                break
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
            for ref in ready:
                unit = pending.pop(ref)
                try:
                    done(ray.get(ref))
                except Exception as err:  # noqa: BLE001 - retries exhausted: report, go on
                    failures.append((unit.key, f"{type(err).__name__}: {str(err).splitlines()[0]}"))
                    bar.update(1)
    finally:
        if started:
            ray.shutdown()
    return failures
