"""PyOcto adapter: our picks/stations/velocity model -> ``pyocto.OctoAssociator`` -> events and assignments.

PyOcto's formats: picks ``station, phase, time`` (epoch seconds), stations ``id, x, y, z`` (km, z down),
velocity models ``VelocityModel0D`` (homogeneous) or ``VelocityModel1D`` (a binary travel-time table).

The 1-D table is written here rather than with ``VelocityModel1D.create_model``: that helper needs
pyrocko's eikonal solver, and pyrocko's wheels for this Python are built against NumPy 1 and do not
import under the NumPy 2 the rest of seisforge needs. We solve the same eikonal problem with
scikit-fmm (fast marching, second order) on the same grid, with velocities interpolated between the
model's nodes exactly as ``create_model`` does, and write PyOcto's documented layout
(``struct "iid"`` nx, nz, delta, then P and S times as float64 ``(nx, nz)`` arrays). Against the
exact linear-gradient travel times the table is within 0.03 s (tests/test_associate.py).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.data.velocity import VelocityModel
from seisforge.deploy.associate.inputs import Region
from seisforge.deploy.associate.settings import AssociateSettings
from seisforge.errors import ConfigError


def travel_time_table(vm: VelocityModel, xdist_km: float, zdist_km: float, delta_km: float = 0.5
                      ) -> tuple[np.ndarray, np.ndarray]:
    """P and S first-arrival times (s) from a surface source on an ``(x, z)`` grid of ``delta_km``."""
    import skfmm

    nx, nz = int(xdist_km / delta_km) + 1, int(zdist_km / delta_km) + 1
    x, z = np.arange(nx) * delta_km, np.arange(nz) * delta_km
    X, Z = np.meshgrid(x, z, indexing="ij")
    r = np.hypot(X, Z)
    r0 = 1.5 * delta_km  # start the front on a small circle: a point source is not resolvable on the grid
    tables = []
    for v1d in vm.at(z):
        speed = np.broadcast_to(v1d, X.shape).copy()
        t = np.asarray(skfmm.travel_time(r - r0, speed, dx=delta_km, order=2)) + r0 / v1d[0]
        inside = r <= r0
        t[inside] = r[inside] / v1d[0]
        tables.append(np.ascontiguousarray(t, dtype=np.float64))
    return tables[0], tables[1]


def write_pyocto_table(vm: VelocityModel, region: Region, path: Path, delta_km: float = 0.5) -> Path:
    """Write PyOcto's binary 1-D travel-time table covering ``region`` (diagonal and depth, + margin)."""
    xdist = region.diagonal_km + 20.0
    zdist = region.zlim[1] + 20.0
    p, s = travel_time_table(vm, xdist, zdist, delta_km)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("iid", p.shape[0], p.shape[1], delta_km))
        f.write(p.tobytes())
        f.write(s.tobytes())
    return path


def _velocity_model(settings: AssociateSettings, region: Region, workdir: Path):
    import pyocto

    vm = settings.velocity
    if vm.kind == "homogeneous":
        return pyocto.VelocityModel0D(p_velocity=vm.vp[0], s_velocity=vm.vs[0], tolerance=settings.tolerance_s)
    table = workdir / f"pyocto_table_{settings.digest()}.bin"
    if not table.is_file():  # one table per settings; written atomically so parallel chunks can share it
        tmp = table.with_suffix(f".{np.random.default_rng().integers(1 << 30)}.tmp")
        write_pyocto_table(vm, region, tmp)
        tmp.replace(table)
    return pyocto.VelocityModel1D(str(table), tolerance=settings.tolerance_s)


def associate_pyocto(picks: pd.DataFrame, stations: pd.DataFrame, region: Region, settings: AssociateSettings,
                     workdir: Path, time_before: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run PyOcto on one chunk.

    Returns
    -------
    (events, assignments)
        events: ``time`` (epoch s), ``x``, ``y``, ``z`` (km), ``n_p``, ``n_s``, ``score`` (PyOcto has no
        score: the number of picks); assignments: ``event_idx``, ``pick_id``, ``residual_s``.
    """
    import pyocto

    if picks.empty:
        return _empty()
    try:
        assoc = pyocto.OctoAssociator(xlim=region.xlim, ylim=region.ylim, zlim=region.zlim,
                                      velocity_model=_velocity_model(settings, region, workdir),
                                      time_before=time_before, **settings.pyocto)
    except TypeError as err:
        raise ConfigError(f"pyocto config: {err}") from err
    sta = stations[["id", "x", "y", "z"]].reset_index(drop=True)
    pk = pd.DataFrame({"station": picks["trace_id"].to_numpy(), "phase": picks["phase"].to_numpy(),
                       "time": picks["time"].to_numpy(dtype=float)})
    events, asg = assoc.associate(pk, sta)
    if len(events) == 0:
        return _empty()
    phase = picks["phase"].to_numpy()[asg["pick_idx"].to_numpy()]
    counts = pd.DataFrame({"e": asg["event_idx"].to_numpy(), "p": phase == "P", "s": phase == "S"}).groupby("e").sum()
    ev = pd.DataFrame({"time": events["time"].to_numpy(float), "x": events["x"], "y": events["y"],
                       "z": events["z"], "event_idx": events["idx"].to_numpy()})
    ev["n_p"] = ev["event_idx"].map(counts["p"]).fillna(0).astype(int)
    ev["n_s"] = ev["event_idx"].map(counts["s"]).fillna(0).astype(int)
    ev["score"] = (ev["n_p"] + ev["n_s"]).astype(float)
    out_asg = pd.DataFrame({"event_idx": asg["event_idx"].to_numpy(),
                            "pick_id": picks["pick_id"].to_numpy()[asg["pick_idx"].to_numpy()],
                            "residual_s": asg["residual"].to_numpy(float)})
    return ev.reset_index(drop=True), out_asg


def _empty() -> tuple[pd.DataFrame, pd.DataFrame]:
    return (pd.DataFrame(columns=["time", "x", "y", "z", "event_idx", "n_p", "n_s", "score"]),
            pd.DataFrame(columns=["event_idx", "pick_id", "residual_s"]))
