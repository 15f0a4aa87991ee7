"""Event catalogs as tables and as QuakeML (one implementation for the synthetic truth and `associate`).

Tables (pandas):

- **events**: ``event_id`` (str), ``time`` (UTC ``Timestamp``), ``latitude``, ``longitude`` (deg),
  ``depth_km``, optional ``magnitude``;
- **picks**: ``pick_id`` (str), ``event_id`` (str, empty when unassociated), ``trace_id``
  (``NET.STA.LOC``), ``phase`` (``P``/``S``), ``time`` (UTC ``Timestamp``), optional ``residual_s``.

In QuakeML every event holds one origin (its preferred origin), the picks associated with it and one
arrival per pick (``pick_id`` -> the pick, ``phase``, ``time_residual``); resource ids are
``smi:seisforge/<event_id>``, ``.../origin``, ``smi:seisforge/pick/<pick_id>``. :func:`read_quakeml`
reverses :func:`write_quakeml`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.errors import DataError

EVENT_COLUMNS = ["event_id", "time", "latitude", "longitude", "depth_km", "magnitude"]
PICK_COLUMNS = ["pick_id", "event_id", "trace_id", "phase", "time", "residual_s"]


def _utc(ts) -> object:
    from obspy import UTCDateTime

    return UTCDateTime(pd.Timestamp(ts).value / 1e9)


def write_quakeml(events: pd.DataFrame, picks: pd.DataFrame, path: str | Path, agency: str = "seisforge") -> Path:
    """Write ``events`` with their origins, associated ``picks`` and arrivals as QuakeML."""
    from obspy.core.event import (
        Arrival,
        Catalog,
        CreationInfo,
        Event,
        Magnitude,
        Origin,
        Pick,
        ResourceIdentifier,
        WaveformStreamID,
    )

    cat = Catalog(description=f"{agency} catalog", creation_info=CreationInfo(agency_id=agency))
    by_event = {k: g for k, g in picks.groupby("event_id", sort=False)} if len(picks) else {}
    for ev in events.itertuples(index=False):
        rid = f"smi:seisforge/{ev.event_id}"
        origin = Origin(resource_id=ResourceIdentifier(f"{rid}/origin"), time=_utc(ev.time),
                        latitude=float(ev.latitude), longitude=float(ev.longitude),
                        depth=float(ev.depth_km) * 1000.0)
        event = Event(resource_id=ResourceIdentifier(rid), event_type="earthquake", origins=[origin])
        event.preferred_origin_id = origin.resource_id
        mag = getattr(ev, "magnitude", np.nan)
        if mag is not None and np.isfinite(mag):
            event.magnitudes.append(Magnitude(mag=float(mag), magnitude_type="ML", origin_id=origin.resource_id))
        grp = by_event.get(ev.event_id)
        for p in (grp.itertuples(index=False) if grp is not None else []):
            net, sta, loc = (str(p.trace_id).split(".") + ["", "", ""])[:3]
            pick = Pick(resource_id=ResourceIdentifier(f"smi:seisforge/pick/{p.pick_id}"), time=_utc(p.time),
                        waveform_id=WaveformStreamID(network_code=net, station_code=sta, location_code=loc),
                        phase_hint=p.phase, evaluation_mode="automatic")
            event.picks.append(pick)
            res = getattr(p, "residual_s", np.nan)
            origin.arrivals.append(Arrival(pick_id=pick.resource_id, phase=p.phase,
                                           time_residual=float(res) if res is not None and np.isfinite(res)
                                           else None))
        cat.events.append(event)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cat.write(str(path), format="QUAKEML")
    return path


def _pick_row(pick, event_id: str, residual: float | None) -> dict:
    w = pick.waveform_id
    rid = str(pick.resource_id)
    return {"pick_id": rid.rsplit("/", 1)[-1], "event_id": event_id,
            "trace_id": f"{w.network_code}.{w.station_code}.{w.location_code or ''}",
            "phase": (pick.phase_hint or "").upper()[:1], "time": pd.Timestamp(pick.time.ns, tz="UTC"),
            "residual_s": np.nan if residual is None else residual}


def read_quakeml(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(events, picks)`` tables from a QuakeML file (preferred origin, else the first one)."""
    import obspy

    try:
        cat = obspy.read_events(str(path))
    except Exception as err:  # noqa: BLE001 - any parser failure is a data problem of the user's file
        raise DataError(f"cannot read QuakeML {path}: {err}") from err
    events, picks = [], []
    for k, ev in enumerate(cat):
        origin = ev.preferred_origin() or (ev.origins[0] if ev.origins else None)
        if origin is None:
            continue
        event_id = str(ev.resource_id).rsplit("/", 1)[-1] or f"ev{k}"
        mag = ev.preferred_magnitude() or (ev.magnitudes[0] if ev.magnitudes else None)
        events.append({"event_id": event_id, "time": pd.Timestamp(origin.time.ns, tz="UTC"),
                       "latitude": origin.latitude, "longitude": origin.longitude,
                       "depth_km": (origin.depth or 0.0) / 1000.0,
                       "magnitude": mag.mag if mag is not None else np.nan})
        residuals = {str(a.pick_id): a.time_residual for a in origin.arrivals}
        picks += [_pick_row(p, event_id, residuals.get(str(p.resource_id))) for p in ev.picks]
    return (pd.DataFrame(events, columns=EVENT_COLUMNS), pd.DataFrame(picks, columns=PICK_COLUMNS))


def read_events(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A reference or found catalog: ``catalog.csv`` (events table; arrivals from a sibling
    ``arrivals.csv`` when present), a QuakeML file, or a ``seisforge associate`` output folder."""
    path = Path(path)
    if path.is_dir():
        if (path / "events.parquet").is_file():
            ev = pd.read_parquet(path / "events.parquet")
            asg = pd.read_parquet(path / "assignments.parquet") if (path / "assignments.parquet").is_file() else None
            return ev, asg
        raise DataError(f"{path} holds no events.parquet (not a seisforge associate output)")
    if not path.is_file():
        raise DataError(f"catalog not found: {path}")
    if path.suffix.lower() == ".csv":
        ev = pd.read_csv(path, dtype={"event_id": str})
        missing = {"event_id", "time", "latitude", "longitude", "depth_km"} - set(ev.columns)
        if missing:
            raise DataError(f"{path}: missing columns {sorted(missing)}")
        ev["time"] = pd.to_datetime(ev["time"], utc=True)
        arr = path.parent / "arrivals.csv"
        picks = None
        if arr.is_file():
            picks = pd.read_csv(arr, dtype={"event_id": str})
            picks["time"] = pd.to_datetime(picks["time"], utc=True)
        return ev, picks
    return read_quakeml(path)
