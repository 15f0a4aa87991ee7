"""GaMMA adapter: our picks/stations/velocity model -> GaMMA (``gmma``) in its own environment.

``gmma`` 1.2.17 pins ``scikit-learn==1.7`` exactly and builds on private scikit-learn mixture code,
while the rest of seisforge runs scikit-learn 1.9. GaMMA therefore runs in an isolated virtual
environment (``make gamma-venv`` -> ``.venv-gamma``: ``gmma==1.2.17``, pandas, pyarrow) as a subprocess, with
Parquet/JSON files as the contract (:mod:`.gamma_worker`). The interpreter is ``$SEISFORGE_GAMMA_PYTHON``
or ``<repo>/.venv-gamma/bin/python``.

GaMMA's formats: picks ``id, timestamp, type (p/s), prob``; stations ``id, x(km), y(km), z(km)``;
velocities ``vel = {p, s}`` (homogeneous) or ``eikonal = {vel: {z, p, s}, h, xlim, ylim, zlim}`` (1-D,
solved by GaMMA's own eikonal solver on an ``h``-km grid).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.deploy.associate.inputs import Region
from seisforge.deploy.associate.settings import AssociateSettings
from seisforge.errors import ConfigError, DataError

WORKER = Path(__file__).with_name("gamma_worker.py")
_SERVER: dict[str, subprocess.Popen] = {}  # one GaMMA process per seisforge process (and workdir)


def _server(python: Path, workdir: Path) -> subprocess.Popen:
    """The running GaMMA worker of this process, started (in ``workdir``) when needed."""
    key = str(workdir)
    proc = _SERVER.get(key)
    if proc is None or proc.poll() is not None:
        log = open(workdir / "gamma_worker.log", "a")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen([str(python), str(WORKER), "--serve"], cwd=workdir, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1,
                                env={**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"})
        _SERVER[key] = proc
    return proc


def gamma_python() -> Path:
    """The interpreter of GaMMA's environment; a ConfigError saying how to create it when missing."""
    env = os.environ.get("SEISFORGE_GAMMA_PYTHON")
    cand = Path(env) if env else Path(__file__).resolve().parents[4] / ".venv-gamma" / "bin" / "python"
    if not cand.exists():
        raise ConfigError(f"GaMMA's environment not found ({cand}); create it with `make gamma-venv` "
                          "or point SEISFORGE_GAMMA_PYTHON at a Python with gmma==1.2.17 and pyarrow")
    return cand


def gamma_config(settings: AssociateSettings, region: Region) -> dict:
    """GaMMA's config dict for ``region`` and the settings' velocity model."""
    cfg = {k: v for k, v in settings.gamma.items() if k != "eikonal_h_km"}
    vm = settings.velocity
    z0, z1 = region.zlim
    cfg.update({
        "dims": ["x(km)", "y(km)", "z(km)"], "x(km)": list(region.xlim), "y(km)": list(region.ylim),
        "z(km)": [z0, z1], "vel": {"p": float(np.mean(vm.vp)), "s": float(np.mean(vm.vs))},
        "bfgs_bounds": [[region.xlim[0] - 1, region.xlim[1] + 1], [region.ylim[0] - 1, region.ylim[1] + 1],
                        [z0, z1 + 1], [None, None]],
    })
    cfg.setdefault("max_sigma11", settings.tolerance_s)
    if vm.kind == "layered":
        cfg["eikonal"] = {"vel": {"z": list(vm.depth_km), "p": list(vm.vp), "s": list(vm.vs)},
                          "h": float(settings.gamma.get("eikonal_h_km", 1.0)), "xlim": list(region.xlim),
                          "ylim": list(region.ylim), "zlim": [z0, z1 + 1]}
    return cfg


def associate_gamma(picks: pd.DataFrame, stations: pd.DataFrame, region: Region, settings: AssociateSettings,
                    workdir: Path, time_before: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run GaMMA on one chunk (same return contract as :func:`.pyocto_adapter.associate_pyocto`)."""
    from seisforge.deploy.associate.pyocto_adapter import _empty

    if picks.empty:
        return _empty()
    python = gamma_python()
    workdir = Path(workdir).resolve()  # the worker runs elsewhere: it gets absolute paths only
    with tempfile.TemporaryDirectory(dir=workdir, prefix=".gamma-") as tmp:
        d = Path(tmp)
        pd.DataFrame({"id": picks["trace_id"].to_numpy(), "timestamp": picks["peak_time"].to_numpy(),
                      "type": picks["phase"].str.lower().to_numpy(), "prob": picks["prob"].to_numpy()}
                     ).to_parquet(d / "picks.parquet")
        stations.rename(columns={"x": "x(km)", "y": "y(km)", "z": "z(km)"})[
            ["id", "x(km)", "y(km)", "z(km)"]].to_parquet(d / "stations.parquet")
        (d / "request.json").write_text(json.dumps({"config": gamma_config(settings, region)}))
        proc = _server(python, workdir)
        proc.stdin.write(f"{d}\n")
        proc.stdin.flush()
        answer = proc.stdout.readline().strip()
        if answer != "ok" or not (d / "done.json").is_file():
            raise DataError(f"GaMMA worker failed: {answer or 'no answer'} (log: {workdir}/gamma_worker.log)")
        ev = pd.read_parquet(d / "events.parquet")
        asg = pd.read_parquet(d / "assignments.parquet")
    if ev.empty:
        return _empty()
    events = pd.DataFrame({"time": ev["time"].astype(float), "x": ev["x(km)"], "y": ev["y(km)"], "z": ev["z(km)"],
                           "event_idx": ev["event_index"].astype(int), "n_p": ev["num_p_picks"].astype(int),
                           "n_s": ev["num_s_picks"].astype(int), "score": ev["gamma_score"].astype(float)})
    out_asg = pd.DataFrame({"event_idx": asg["event_index"].astype(int).to_numpy(),
                            "pick_id": picks["pick_id"].to_numpy()[asg["pick_index"].astype(int).to_numpy()],
                            "residual_s": np.nan})
    return events, out_asg
