"""Export a picks dataset to CSV or QuakeML; a path that cannot be written is a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from seisforge.errors import DataError


@contextmanager
def _writing(path: Path, what: str) -> Iterator[None]:
    """Turn OS errors while writing ``path`` (full disk, no permission, a folder...) into a DataError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield
    except OSError as err:
        raise DataError(f"cannot write the {what} export {path}: {err.strerror or err}") from err


def to_csv(picks: pd.DataFrame, path: str | Path) -> Path:
    """Write picks as CSV with ISO-8601 UTC times (one row per pick, sorted by key)."""
    df = picks.copy()
    for col in ("peak_time", "start_time", "end_time"):
        df[col] = df[col].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    path = Path(path)
    with _writing(path, "CSV"):
        df.to_csv(path, index=False)
    return path


def to_quakeml(picks: pd.DataFrame, path: str | Path, model: str = "") -> Path:
    """Write picks as QuakeML: one event per station-day holding its automatic picks.

    QuakeML keeps picks inside events; picks are not associated here, so the events are containers
    (``event_type="not reported"``), and ``peak_value`` is stored as a pick comment.
    """
    from obspy import UTCDateTime
    from obspy.core.event import Catalog, Comment, Event, Pick, WaveformStreamID

    cat = Catalog(description=f"seisforge pick {model}".strip())
    for (station, day), grp in picks.groupby(["station", "day"], sort=True):
        ev = Event(event_type="not reported", comments=[Comment(text=f"picks of {station} on {day}")])
        for row in grp.itertuples(index=False):
            net, sta, loc = (row.trace_id.split(".") + ["", "", ""])[:3]
            ev.picks.append(
                Pick(
                    time=UTCDateTime(row.peak_time.value / 1e9),
                    waveform_id=WaveformStreamID(network_code=net, station_code=sta, location_code=loc),
                    phase_hint=row.phase,
                    evaluation_mode="automatic",
                    comments=[Comment(text=f"peak_value={row.peak_value:.6f} model={row.model} "
                                           f"{row.model_version}")],
                )
            )
        cat.events.append(ev)
    path = Path(path)
    with _writing(path, "QuakeML"):
        cat.write(str(path), format="QUAKEML")
    return path
