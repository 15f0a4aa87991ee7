"""Synthetic seismic networks with a known catalog: day-long SDS miniSEED, StationXML, true arrivals.

The waveform physics is :mod:`seisforge.data.synthetic`'s (:func:`event_signal`, :func:`coloured_noise`,
its transients), so the seismograms look like those the demo picker was trained on. What this module
adds is the network geometry:

- Stations are placed uniformly in an ``area_km`` square around (``center_lat``, ``center_lon``);
  lat/lon come from a transverse Mercator projection centred there (:func:`local_projection`), the
  same kind the associators use, so x/y distances and geographic distances agree to metres.
- Events get uniform epicentres (in the square, 10 % margin), uniform depths, uniform origin times and
  Gutenberg-Richter magnitudes (``b_value``). P and S times at every station come from **one**
  velocity model, the linear gradient of :func:`seisforge.data.synthetic.travel_time`; it is written as
  ``velocity_model.yaml`` (a 2-node layered model, exact for a linear gradient) for the associators.
- Amplitudes follow ``event_signal``'s local-magnitude relation (magnitude up, distance down); each
  station has its own noise level, so far stations see small events weakly or not at all. Each
  arrival's SNR (peak signal in the 2 s after onset over the noise standard deviation, P on Z, S on
  the horizontals) is stored; an arrival is **above the noise** when SNR >= ``visible_snr`` (6: coloured
  noise alone peaks near 3 standard deviations in 2 s, so 6 is twice the noise's own peak), and
  an event is **visible** when at least ``visible_stations`` (4) stations have such an arrival.
- Non-seismic transients (``transients_per_day`` per station, 2-8 times the noise), optional station
  clock errors (``timing_error_s``: per-station constant offsets, standard deviation in s; recorded
  data are shifted, true arrival times are not) and dead channels (``dead_channel_prob`` per
  station-day: one component is flat zero).

Outputs (see docs/formats.md): ``sds/`` (SDS archive, one float32 miniSEED file per channel-day),
``inventory.xml`` (StationXML), ``stations.csv``, ``catalog.csv`` + ``catalog.xml`` (QuakeML with the
true picks and arrivals), ``arrivals.csv`` (every true arrival per station; the ``bench continuous``
catalog format), ``velocity_model.yaml``, ``run_report.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from seisforge.data.catalog_io import write_quakeml
from seisforge.data.synthetic import GRAD, V0, VPVS, _transients, coloured_noise, event_signal, travel_time
from seisforge.data.velocity import VelocityModel
from seisforge.errors import DataError
from seisforge.runinfo import RunReport

DAY_S = 86400.0
CHANNELS = ("HHZ", "HHN", "HHE")
LEAD_S = 5.0  # each event is simulated in a segment starting this long before its P arrival
CODA_S = 60.0  # ... and ending this long after S


@dataclass
class NetworkConfig:
    """Parameters of :func:`synthesize_network`."""

    stations: int = 10
    days: int = 1
    hours: float | None = None  # shorter span than ``days`` (demo); None: whole days
    events_per_day: float = 48.0
    seed: int = 0
    start: str = "2020-01-01"
    sampling_rate: float = 100.0
    network: str = "SY"
    center_lat: float = 46.5
    center_lon: float = 8.0
    area_km: float = 100.0
    depth_range_km: tuple[float, float] = (2.0, 20.0)
    magnitude_range: tuple[float, float] = (0.0, 3.5)
    b_value: float = 1.0
    noise_std_range: tuple[float, float] = (0.01, 0.05)
    transients_per_day: float = 24.0
    timing_error_s: float = 0.0
    dead_channel_prob: float = 0.0
    visible_snr: float = 6.0
    visible_stations: int = 4

    @property
    def span_s(self) -> float:
        """Seconds of data from ``start``."""
        return float(self.hours * 3600.0) if self.hours else self.days * DAY_S


def velocity_model() -> VelocityModel:
    """The synthetics' velocity model as a layered model (linear gradient: two nodes are exact)."""
    z = (0.0, 100.0)
    vp = tuple(V0 + GRAD * d for d in z)
    return VelocityModel("layered", z, vp, tuple(v / VPVS for v in vp))


def local_projection(lat0: float, lon0: float):
    """pyproj transformer (lat, lon) <-> (x_km east, y_km north), transverse Mercator at (lat0, lon0)."""
    from pyproj import CRS, Transformer

    crs = CRS(f"+proj=tmerc +lat_0={lat0} +lon_0={lon0} +units=km")
    return Transformer.from_crs(CRS.from_epsg(4326), crs)


def _stations(rng: np.random.Generator, cfg: NetworkConfig) -> pd.DataFrame:
    xy = (rng.random((cfg.stations, 2)) - 0.5) * cfg.area_km
    lat, lon = local_projection(cfg.center_lat, cfg.center_lon).transform(xy[:, 0], xy[:, 1], direction="INVERSE")
    names = [f"S{i:02d}" for i in range(cfg.stations)]
    return pd.DataFrame({
        "id": [f"{cfg.network}.{n}." for n in names], "network": cfg.network, "station": names, "location": "",
        "latitude": np.round(lat, 6), "longitude": np.round(lon, 6), "elevation_m": 0.0,
        "x_km": xy[:, 0], "y_km": xy[:, 1], "noise_std": rng.uniform(*cfg.noise_std_range, cfg.stations),
        "timing_error_s": np.round(rng.normal(0, cfg.timing_error_s, cfg.stations), 3)
        if cfg.timing_error_s > 0 else 0.0,
    })


def _events(rng: np.random.Generator, cfg: NetworkConfig) -> pd.DataFrame:
    n = int(rng.poisson(cfg.events_per_day * cfg.span_s / DAY_S))
    half = 0.6 * cfg.area_km
    xy = rng.uniform(-half, half, (n, 2))
    lo, hi = cfg.magnitude_range
    mag = lo + rng.exponential(1.0 / (cfg.b_value * np.log(10)), n)
    t0 = pd.Timestamp(cfg.start, tz="UTC")
    times = np.sort(rng.uniform(0, cfg.span_s - 30.0, n))
    lat, lon = local_projection(cfg.center_lat, cfg.center_lon).transform(xy[:, 0], xy[:, 1], direction="INVERSE")
    return pd.DataFrame({
        "event_id": [f"syn{cfg.seed}_{k:05d}" for k in range(n)],
        "time": t0 + pd.to_timedelta(np.round(times, 3), unit="s"),
        "latitude": np.round(lat, 6), "longitude": np.round(lon, 6),
        "depth_km": np.round(rng.uniform(*cfg.depth_range_km, n), 3),
        "magnitude": np.round(np.minimum(mag, hi), 2), "x_km": xy[:, 0], "y_km": xy[:, 1],
    })


def true_arrivals(events: pd.DataFrame, stations: pd.DataFrame) -> pd.DataFrame:
    """Every P and S arrival of every event at every station, from the velocity model (true time, and
    ``recorded_time`` = true time + the station's clock error)."""
    rows = []
    for ev in events.itertuples(index=False):
        dist = np.hypot(stations["x_km"].to_numpy() - ev.x_km, stations["y_km"].to_numpy() - ev.y_km)
        for phase in ("P", "S"):
            tt = travel_time(dist, np.full_like(dist, ev.depth_km), phase)
            for sta, d, t, err in zip(stations["id"], dist, tt, stations["timing_error_s"]):
                time = ev.time + pd.Timedelta(seconds=float(t))
                rows.append({"event_id": ev.event_id, "trace_id": sta, "phase": phase, "time": time,
                             "recorded_time": time + pd.Timedelta(seconds=float(err)),
                             "distance_km": round(float(d), 3), "travel_time_s": float(t)})
    cols = ["event_id", "trace_id", "phase", "time", "recorded_time", "distance_km", "travel_time_s"]
    return pd.DataFrame(rows, columns=cols)


def draw_network(cfg: NetworkConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stations, events and their true arrivals (no waveforms): what :func:`synthesize_network` records."""
    rng = np.random.default_rng(cfg.seed)
    stations, events = _stations(rng, cfg), _events(rng, cfg)
    return stations, events, true_arrivals(events, stations)


def _event_segment(cfg: NetworkConfig, ev, sta, k_sta: int, p_rec: float, s_rec: float, dist: float):
    """An event's 3-C signal at one station, from ``LEAD_S`` before P; same draw on every day it touches."""
    fs = cfg.sampling_rate
    rng = np.random.default_rng([cfg.seed, int(ev.Index), k_sta, 7])
    n = int((s_rec - p_rec + LEAD_S + CODA_S) * fs)
    sig, _ = event_signal(rng, n, fs, dist, float(ev.depth_km), float(ev.magnitude), LEAD_S * fs)
    return sig


def _station_day(cfg: NetworkConfig, k_sta: int, sta, day_t0: float, n: int, events: pd.DataFrame,
                 arrivals: pd.DataFrame, snr: dict) -> tuple[np.ndarray, int | None]:
    """Data (3, n) of one station-day (seconds ``day_t0`` since ``start``) and its dead component."""
    fs = cfg.sampling_rate
    rng = np.random.default_rng([cfg.seed, k_sta, int(day_t0 // DAY_S), 3])
    data = coloured_noise(rng, n, fs) * sta.noise_std
    for _ in range(int(rng.poisson(cfg.transients_per_day * n / fs / DAY_S))):
        i = int(rng.integers(0, max(1, n - int(10 * fs))))
        seg = _transients(rng, int(10 * fs), fs, 1.0)[:, : n - i]
        data[:, i:i + seg.shape[1]] += seg * sta.noise_std
    dead = int(rng.integers(0, 3)) if rng.random() < cfg.dead_channel_prob else None
    start = pd.Timestamp(cfg.start, tz="UTC")
    mine = arrivals[arrivals["trace_id"] == sta.id].pivot(index="event_id", columns="phase",
                                                         values=["recorded_time", "distance_km"])
    for ev in events.itertuples():
        p_rec = (mine.loc[ev.event_id, ("recorded_time", "P")] - start).total_seconds()
        s_rec = (mine.loc[ev.event_id, ("recorded_time", "S")] - start).total_seconds()
        i_p = (p_rec - day_t0) * fs  # fractional sample of P in this day
        i0 = int(np.floor(i_p - LEAD_S * fs))
        if i0 >= n or i0 + (s_rec - p_rec + LEAD_S + CODA_S) * fs < 0:
            continue
        frac = i_p - LEAD_S * fs - i0  # the segment's P sits at LEAD_S*fs; shift by the fraction
        sig = _event_segment(cfg, ev, sta, k_sta, p_rec, s_rec, float(mine.loc[ev.event_id, ("distance_km", "P")]))
        if frac:
            x = np.arange(sig.shape[1])
            sig = np.stack([np.interp(x - frac, x, c, left=0.0) for c in sig])
        a, b = max(i0, 0), min(i0 + sig.shape[1], n)
        data[:, a:b] += sig[:, a - i0:b - i0]
        win = int(2 * fs)
        ip, is_ = int(LEAD_S * fs + frac), int(LEAD_S * fs + frac + (s_rec - p_rec) * fs)
        for phase, comps, j in (("P", [0], ip), ("S", [1, 2], is_)):
            alive = [c for c in comps if c != dead]
            peak = float(np.abs(sig[alive, j:j + win]).max()) if alive else 0.0
            snr[(ev.event_id, sta.id, phase)] = max(snr.get((ev.event_id, sta.id, phase), 0.0),
                                                    peak / sta.noise_std if 0 <= i0 + j < n else 0.0)
    if dead is not None:
        data[dead] = 0.0
    return data, dead


def mark_visibility(events: pd.DataFrame, arrivals: pd.DataFrame, snr_min: float = 6.0,
                    min_stations: int = 4) -> None:
    """Set ``arrivals.above_noise`` (``snr >= snr_min``) and ``events.n_stations_above_noise`` /
    ``events.visible`` (at least ``min_stations`` stations with an arrival above the noise), in place."""
    arrivals["above_noise"] = arrivals["snr"] >= snr_min
    seen = arrivals[arrivals["above_noise"]].groupby("event_id")["trace_id"].nunique()
    events["n_stations_above_noise"] = events["event_id"].map(seen).fillna(0).astype(int)
    events["visible"] = events["n_stations_above_noise"] >= min_stations


def _write_sds(root: Path, cfg: NetworkConfig, sta, t0, data: np.ndarray) -> None:
    import obspy

    for comp, cha in enumerate(CHANNELS):
        tr = obspy.Trace(data[comp].astype(np.float32), {
            "network": sta.network, "station": sta.station, "location": sta.location, "channel": cha,
            "sampling_rate": cfg.sampling_rate, "starttime": t0})
        d = root / f"{t0.year}" / sta.network / sta.station / f"{cha}.D"
        d.mkdir(parents=True, exist_ok=True)
        tr.write(str(d / f"{sta.network}.{sta.station}.{sta.location}.{cha}.D.{t0.year}.{t0.julday:03d}"),
                 format="MSEED", encoding="FLOAT32")


def inventory(stations: pd.DataFrame, sampling_rate: float, start: str):
    """An ObsPy ``Inventory`` (network, stations, HH? channels) of ``stations``."""
    import obspy
    from obspy.core.inventory import Channel, Inventory, Network, Station

    nets = []
    for net, grp in stations.groupby("network"):
        stas = []
        for s in grp.itertuples(index=False):
            chans = [Channel(code=c, location_code=s.location, latitude=s.latitude, longitude=s.longitude,
                             elevation=s.elevation_m, depth=0.0, sample_rate=sampling_rate,
                             azimuth={"Z": 0.0, "N": 0.0, "E": 90.0}[c[-1]], dip=-90.0 if c[-1] == "Z" else 0.0)
                     for c in CHANNELS]
            stas.append(Station(code=s.station, latitude=s.latitude, longitude=s.longitude,
                                elevation=s.elevation_m, channels=chans, creation_date=obspy.UTCDateTime(start)))
        nets.append(Network(code=net, stations=stas))
    return Inventory(networks=nets, source="seisforge data synth --network")


def synthesize_network(cfg: NetworkConfig, out: str | Path, progress: bool = True) -> RunReport:
    """Write a synthetic network with its true catalog to ``out`` (see the module docstring)."""
    import obspy

    if cfg.stations < 1 or cfg.span_s <= 60:
        raise DataError("a network needs at least one station and more than a minute of data")
    out = Path(out)
    if (out / "catalog.csv").exists():
        raise DataError(f"{out} already holds a synthetic network; choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    stations, events, arrivals = draw_network(cfg)
    snr: dict = {}
    report = RunReport("data synth --network")
    n_days = int(np.ceil(cfg.span_s / DAY_S))
    bar = tqdm(total=n_days * len(stations), desc="synthesizing station-days", unit="station-day",
               disable=not progress)
    for k_sta, sta in enumerate(stations.itertuples(index=False)):
        for d in range(n_days):
            n = int(round(min(DAY_S, cfg.span_s - d * DAY_S) * cfg.sampling_rate))
            data, dead = _station_day(cfg, k_sta, sta, d * DAY_S, n, events, arrivals, snr)
            t0 = obspy.UTCDateTime(cfg.start) + d * DAY_S
            _write_sds(out / "sds", cfg, sta, t0, data)
            if dead is not None:
                report.handle("dead_channel", f"{sta.id}{CHANNELS[dead]} {t0.date}")
            report.processed += 1
            bar.update(1)
    bar.close()
    _write_truth(out, cfg, stations, events, arrivals, snr, report)
    return report


def _write_truth(out: Path, cfg: NetworkConfig, stations: pd.DataFrame, events: pd.DataFrame,
                 arrivals: pd.DataFrame, snr: dict, report: RunReport) -> None:
    keys = list(zip(arrivals["event_id"], arrivals["trace_id"], arrivals["phase"]))
    arrivals["snr"] = np.round([snr.get(k, 0.0) for k in keys], 2)
    mark_visibility(events, arrivals, cfg.visible_snr, cfg.visible_stations)
    iso = "%Y-%m-%dT%H:%M:%S.%fZ"
    stations.to_csv(out / "stations.csv", index=False)
    inventory(stations, cfg.sampling_rate, cfg.start).write(str(out / "inventory.xml"), format="STATIONXML")
    events.assign(time=events["time"].dt.strftime(iso)).to_csv(out / "catalog.csv", index=False)
    arrivals.assign(time=arrivals["time"].dt.strftime(iso),
                    recorded_time=arrivals["recorded_time"].dt.strftime(iso)).to_csv(out / "arrivals.csv", index=False)
    picks = arrivals.assign(pick_id=[f"{e}_{t}_{p}" for e, t, p in keys], residual_s=0.0)
    write_quakeml(events, picks, out / "catalog.xml", agency="seisforge-synthetic")
    velocity_model().write(out / "velocity_model.yaml")
    report.notes.update({
        "config": asdict(cfg), "events": len(events), "visible_events": int(events["visible"].sum()),
        "arrivals": len(arrivals), "arrivals_above_noise": int(arrivals["above_noise"].sum()),
        "stations": ",".join(s.rsplit(".", 1)[0] for s in stations["id"]),
    })
    report.write(out)
