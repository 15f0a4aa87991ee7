"""Picks and stations for the associators: reading, projection to km, bad input counted.

- Picks come from a ``seisforge pick`` folder (:func:`seisforge.deploy.store.read_picks`); the station
  key of a pick is its ``trace_id`` (``NET.STA.LOC``). The pick key is ``(trace_id, phase, peak_time)``
  and ``pick_id`` spells it (``NET.STA.LOC_P_<ns since epoch>``).
- Stations come from a ``stations.csv`` (``id`` = ``NET.STA.LOC``, or ``network``/``station``/``location``
  columns; ``latitude``, ``longitude``, optional ``elevation_m``) or a StationXML file (one entry per
  station and location code).
- Coordinates are projected with a transverse Mercator centred on the stations' bounding box
  (:func:`seisforge.data.network.local_projection`), PyOcto's own choice (``OctoAssociator.get_crs``).

Counted in the run report: ``station_without_coordinates`` (stations skipped), ``station_not_in_inventory``
``picks_station_not_in_inventory`` and
``picks_station_without_coordinates`` (picks skipped), ``outside_time_span``, ``unknown_phase``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.data.network import local_projection
from seisforge.errors import DataError
from seisforge.runinfo import RunReport


@dataclass
class Region:
    """The projection centre and the search box (km)."""

    lat0: float
    lon0: float
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    zlim: tuple[float, float]

    def to_xy(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """(lat, lon) -> (x, y) km."""
        x, y = local_projection(self.lat0, self.lon0).transform(np.asarray(lat, float), np.asarray(lon, float))
        return np.asarray(x), np.asarray(y)

    def to_latlon(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) km -> (lat, lon)."""
        lat, lon = local_projection(self.lat0, self.lon0).transform(np.asarray(x, float), np.asarray(y, float),
                                                                     direction="INVERSE")
        return np.asarray(lat), np.asarray(lon)

    @property
    def diagonal_km(self) -> float:
        """Horizontal diagonal of the search box."""
        return float(np.hypot(np.ptp(self.xlim), np.ptp(self.ylim)))


def read_stations(path: str | Path, report: RunReport) -> tuple[pd.DataFrame, set[str]]:
    """Stations as ``id, latitude, longitude, elevation_m``, and the ids of stations without coordinates
    (counted and dropped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"stations file not found: {path}")
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path, dtype={"id": str, "network": str, "station": str, "location": str},
                         keep_default_na=False, na_values={"latitude": [""], "longitude": [""]})
        if "id" not in df.columns:
            if not {"network", "station"} <= set(df.columns):
                raise DataError(f"{path}: needs an 'id' column or 'network' and 'station' columns")
            loc = df["location"] if "location" in df.columns else ""
            df["id"] = df["network"] + "." + df["station"] + "." + loc
    else:
        import obspy

        try:
            inv = obspy.read_inventory(str(path))
        except Exception as err:  # noqa: BLE001 - a file that is not an inventory is the user's data problem
            raise DataError(f"cannot read station inventory {path}: {err}") from err
        rows = []
        for net in inv:
            for sta in net:
                for loc in sorted({c.location_code for c in sta.channels} or {""}):
                    rows.append({"id": f"{net.code}.{sta.code}.{loc}", "latitude": sta.latitude,
                                 "longitude": sta.longitude, "elevation_m": sta.elevation})
        df = pd.DataFrame(rows, columns=["id", "latitude", "longitude", "elevation_m"])
    for col in ("latitude", "longitude"):
        if col not in df.columns:
            raise DataError(f"{path}: missing column {col!r}")
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["elevation_m"] = pd.to_numeric(df.get("elevation_m", 0.0), errors="coerce").fillna(0.0)
    bad = df["latitude"].isna() | df["longitude"].isna()
    for sid in df.loc[bad, "id"]:
        report.skip("station_without_coordinates", sid)
    no_coords = set(df.loc[bad, "id"]) - set(df.loc[~bad, "id"])
    df = df.loc[~bad, ["id", "latitude", "longitude", "elevation_m"]].drop_duplicates("id")
    return df.sort_values("id").reset_index(drop=True), no_coords


def region_of(stations: pd.DataFrame, margin_km: float, zlim: tuple[float, float]) -> Region:
    """Projection centre (bounding-box middle) and the stations' box plus ``margin_km``."""
    if stations.empty:
        return Region(0.0, 0.0, (-margin_km, margin_km), (-margin_km, margin_km), zlim)
    lat0 = float((stations["latitude"].min() + stations["latitude"].max()) / 2)
    lon0 = float((stations["longitude"].min() + stations["longitude"].max()) / 2)
    reg = Region(lat0, lon0, (0, 0), (0, 0), zlim)
    x, y = reg.to_xy(stations["latitude"], stations["longitude"])
    reg.xlim = (float(x.min() - margin_km), float(x.max() + margin_km))
    reg.ylim = (float(y.min() - margin_km), float(y.max() + margin_km))
    return reg


def project_stations(stations: pd.DataFrame, region: Region) -> pd.DataFrame:
    """Add ``x``, ``y`` (km) and ``z`` (km below sea level, i.e. minus the elevation)."""
    x, y = region.to_xy(stations["latitude"], stations["longitude"])
    return stations.assign(x=x, y=y, z=-stations["elevation_m"] / 1000.0)


def pick_ids(picks: pd.DataFrame) -> pd.Series:
    """``pick_id`` strings of the pick key (``trace_id_phase_ns``; URI-safe for QuakeML)."""
    ns = picks["peak_time"].dt.as_unit("ns").astype("int64").astype(str)
    return picks["trace_id"] + "_" + picks["phase"] + "_" + ns


def read_clean_picks(picks_dir: str | Path, stations: pd.DataFrame, report: RunReport,
                     start: str | None = None, end: str | None = None,
                     no_coords: set[str] | None = None) -> pd.DataFrame:
    """Picks of known stations inside ``[start, end)``: ``pick_id, trace_id, phase, time`` (float s),
    ``peak_time``, ``prob``; sorted by time then pick id; the rest counted in ``report``."""
    from seisforge.deploy.store import read_picks

    if not Path(picks_dir).is_dir():
        raise DataError(f"picks folder not found: {picks_dir}")
    picks = read_picks(picks_dir)
    picks["phase"] = picks["phase"].astype(str).str.upper()
    bad_phase = ~picks["phase"].isin(["P", "S"])
    if bad_phase.any():
        report.skip("unknown_phase", None, int(bad_phase.sum()))
    picks = picks[~bad_phase]
    known = picks["trace_id"].isin(set(stations["id"]))
    for sid, n in picks.loc[~known, "trace_id"].value_counts().sort_index().items():
        why = "station_without_coordinates" if sid in (no_coords or set()) else "station_not_in_inventory"
        report.skip(f"picks_{why}", sid, int(n))
    picks = picks[known]
    if start or end:
        t = picks["peak_time"]
        inside = pd.Series(True, index=picks.index)
        if start:
            inside &= t >= pd.Timestamp(start, tz="UTC")
        if end:
            inside &= t < pd.Timestamp(end, tz="UTC")
        if (~inside).any():
            report.skip("outside_time_span", None, int((~inside).sum()))
        picks = picks[inside]
    out = pd.DataFrame({
        "pick_id": pick_ids(picks), "trace_id": picks["trace_id"], "phase": picks["phase"],
        "time": picks["peak_time"].dt.as_unit("ns").astype("int64") / 1e9, "peak_time": picks["peak_time"],
        "prob": picks["peak_value"].astype(float),
    })
    return out.sort_values(["time", "pick_id"], kind="stable").reset_index(drop=True)
