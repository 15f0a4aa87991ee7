"""The ``seisforge associate`` driver: inputs -> chunks (serial or Ray) -> de-duplicated catalog files.

Outputs in ``CATALOG_DIR``: ``events.parquet``, ``assignments.parquet`` (every input pick, with its
``event_id`` or ``""``), ``catalog.xml`` (QuakeML: events, origins, associated picks, arrivals),
``run_report.json``, ``run.json``; working files in ``inputs/``, ``chunks/`` and ``state/``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pandas as pd

from seisforge.data.catalog_io import write_quakeml
from seisforge.data.velocity import VelocityModel, load_velocity_model
from seisforge.deploy.associate.chunks import (
    Chunk,
    auto_overlap,
    is_done,
    merge_chunks,
    plan_chunks,
    run_chunk,
)
from seisforge.deploy.associate.inputs import project_stations, read_clean_picks, read_stations, region_of
from seisforge.deploy.associate.settings import AssociateSettings, load_settings
from seisforge.errors import ConfigError
from seisforge.runinfo import RunReport, environment, write_json

log = logging.getLogger(__name__)

#: velocity model when --velocity-model is not given (a generic crust)
DEFAULT_VELOCITY = VelocityModel.homogeneous(6.0, 6.0 / 1.73)


def _save_inputs(out: Path, picks: pd.DataFrame, stations: pd.DataFrame, region) -> None:
    d = out / "inputs"
    d.mkdir(parents=True, exist_ok=True)
    picks.to_parquet(d / "picks.parquet")
    stations.to_parquet(d / "stations.parquet")
    (d / "region.json").write_text(json.dumps({"lat0": region.lat0, "lon0": region.lon0, "xlim": region.xlim,
                                               "ylim": region.ylim, "zlim": region.zlim}))


def _check_run_json(out: Path, settings: AssociateSettings, inputs: dict) -> None:
    path = out / "run.json"
    if path.is_file():
        prev = json.loads(path.read_text())
        if prev.get("settings") != settings.identity() or prev.get("inputs") != inputs:
            raise ConfigError(f"{out} holds an association made with other settings or inputs; use a new --out")
    write_json({"settings": settings.identity(), "inputs": inputs, "environment": environment()}, path)


def _run_chunks(todo: list[Chunk], settings: AssociateSettings, out: Path, workers: int, address: str | None,
                max_retries: int, progress: bool) -> list[tuple[str, str]]:
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="chunk", desc="associating", disable=not progress, dynamic_ncols=True)
    failures: list[tuple[str, str]] = []
    if workers <= 0 and address is None:
        for c in todo:
            try:
                run_chunk(c, settings, str(out))
            except ConfigError:
                raise
            except Exception as err:  # noqa: BLE001 - one bad chunk never ends the run; reported
                log.exception("chunk %s failed", c.key)
                failures.append((c.key, f"{type(err).__name__}: {err}"))
            bar.update(1)
    else:
        from seisforge.deploy.scale import run_ray

        failures = run_ray(todo, settings, str(out), workers, address, max_retries,
                           lambda state: bar.update(1), bar, task=run_chunk)
    bar.close()
    return failures


def run_association(picks_dir: str | Path, stations_path: str | Path, method: str, out: str | Path,
                    velocity_model: str | Path | None = None, config: str | Path | None = None,
                    start: str | None = None, end: str | None = None, workers: int = 0,
                    address: str | None = None, max_retries: int = 2, progress: bool = True,
                    max_chunks: int | None = None) -> RunReport:
    """Associate the picks of ``picks_dir`` into a catalog in ``out`` (see the module docstring).

    ``max_chunks`` stops after that many new chunks without writing the catalog (what a kill leaves;
    used by the resume test).
    """
    t_start = time.time()
    vm = load_velocity_model(velocity_model) if velocity_model else DEFAULT_VELOCITY
    settings = load_settings(method, vm, config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = RunReport(command="associate")
    stations, no_coords = read_stations(stations_path, report)
    picks = read_clean_picks(picks_dir, stations, report, start, end, no_coords)
    region = region_of(stations, settings.margin_km, settings.zlim_km)
    stations = project_stations(stations, region)
    overlap = auto_overlap(settings, region)
    _check_run_json(out, settings, {"picks": str(Path(picks_dir).resolve()), "n_picks": len(picks),
                                    "stations": str(Path(stations_path).resolve()), "start": start, "end": end})
    _save_inputs(out, picks, stations, region)
    chunks = plan_chunks(picks["time"].min(), picks["time"].max(), settings.chunk_s, overlap) if len(picks) else []
    pending = [c for c in chunks if not is_done(out, c)]
    todo = pending if max_chunks is None else pending[:max_chunks]
    failures = _run_chunks(todo, settings, out, workers, address, max_retries, progress)
    if len(todo) < len(pending):
        return report  # stopped early on purpose: no catalog yet
    done = [c for c in chunks if is_done(out, c)]
    events, assignments = merge_chunks(out, done, settings, picks)
    events.to_parquet(out / "events.parquet")
    assignments.to_parquet(out / "assignments.parquet")
    linked = assignments[assignments["event_id"] != ""].rename(columns={"peak_time": "time"})
    write_quakeml(events.assign(magnitude=float("nan")), linked, out / "catalog.xml")
    states = [json.loads(p.read_text()) for p in sorted((out / "state").glob("chunk_*.json"))]
    return _finish(report, out, settings, chunks, states, failures, picks, events, linked, overlap, t_start)


def _finish(report: RunReport, out: Path, settings: AssociateSettings, chunks, states, failures, picks,
            events, linked, overlap: float, t_start: float) -> RunReport:
    report.processed = len(states)
    for key, msg in failures:
        report.fail("chunk_error", f"{key}: {msg}")
    assoc_s = sum(s["elapsed_s"] for s in states)
    report.notes.update({
        "method": settings.method, "velocity_model": settings.velocity.kind, "chunks": len(chunks),
        "chunk_s": settings.chunk_s, "overlap_s": round(overlap, 2), "n_picks": len(picks),
        "n_picks_associated": len(linked), "n_events": len(events),
        "events_dropped_in_overlaps": int(sum(s["n_events_found"] - s["n_events_owned"] for s in states)),
        "association_seconds": round(assoc_s, 3),
        "picks_per_second": round(sum(s["n_picks_in"] for s in states) / assoc_s, 1) if assoc_s > 0 else None,
        "wall_seconds": round(time.time() - t_start, 3),
    })
    if not len(picks):
        report.notes["empty"] = "no usable picks: empty catalog written"
    report.write(out / "run_report.json")
    return report
