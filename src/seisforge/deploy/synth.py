"""Synthetic continuous 3-C streams with inserted events and their catalog (offline test bed).

Each event is a P arrival (mostly vertical) followed by an S arrival (mostly horizontal), both
Ricker-like wave packets with an exponential coda, on coloured Gaussian noise. The catalog lists the
true arrival times, so picks can be scored with ``seisforge bench continuous``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import obspy
import pandas as pd


def _packet(n: int, fs: float, freq: float, decay_s: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / fs
    carrier = rng.normal(size=n)
    # band-limit the carrier around ``freq`` with a short moving average of a modulated signal
    carrier = np.convolve(carrier, np.hanning(max(3, int(fs / freq))), mode="same")
    onset = np.clip(t / 0.05, 0, 1)
    return carrier * onset * np.exp(-t / decay_s)


def random_event_times(duration_s: float, n_events: int, rng: np.random.Generator) -> np.ndarray:
    """``n_events`` sorted P times (s), at least 15 s apart, 30 s away from the ends."""
    margin = 30.0
    slots = np.arange(margin, duration_s - margin - 20, 20.0)
    if n_events > len(slots):
        raise ValueError(f"{n_events} events do not fit into {duration_s} s (at most {len(slots)})")
    return np.sort(rng.choice(slots, size=n_events, replace=False)) + rng.uniform(0, 5, size=n_events)


def continuous_stream(
    station: str = "XX.SYN.00",
    start: str | obspy.UTCDateTime = "2024-01-01T00:00:00",
    duration_s: float = 3600.0,
    sampling_rate: float = 100.0,
    n_events: int = 20,
    snr: float = 20.0,
    seed: int = 0,
    channel_prefix: str = "HH",
    components: str = "ZNE",
    event_prefix: str = "ev",
    event_times: list[float] | None = None,
) -> tuple[obspy.Stream, pd.DataFrame]:
    """Make one station's continuous stream and the catalog of its inserted arrivals.

    Parameters
    ----------
    station
        ``NET.STA.LOC``.
    start, duration_s, sampling_rate
        Time span and rate of the stream.
    n_events
        Number of events, placed at random with at least 20 s between them; 0 gives noise only.
    snr
        Peak amplitude of the P packet relative to the noise standard deviation.
    seed
        Random seed (streams are reproducible).
    channel_prefix, components
        Channel codes are ``channel_prefix + component``.
    event_prefix
        Prefix of the ``event_id`` column.
    event_times
        P arrival times in seconds after ``start`` (overrides the random placement and ``n_events``).

    Returns
    -------
    (stream, catalog)
        ``catalog`` has columns ``event_id``, ``trace_id``, ``phase``, ``time`` (ISO UTC strings).
    """
    rng = np.random.default_rng(seed)
    start = obspy.UTCDateTime(start)
    n = int(round(duration_s * sampling_rate))
    noise = rng.normal(size=(len(components), n))
    noise = np.apply_along_axis(lambda x: np.convolve(x, np.ones(3) / 3, mode="same"), 1, noise)
    data = noise / noise.std()
    rows = []
    if event_times is None and n_events > 0:
        event_times = list(random_event_times(duration_s, n_events, rng))
    if event_times:
        for k, t_p in enumerate(event_times):
            t_p = float(t_p)
            ts_p = float(rng.uniform(2.0, 8.0))
            i_p = int(round(t_p * sampling_rate))
            i_s = int(round((t_p + ts_p) * sampling_rate))
            amp = snr * rng.uniform(0.7, 1.5)
            for ci, comp in enumerate(components):
                w_p = 1.0 if comp == "Z" else 0.35
                w_s = 0.5 if comp == "Z" else 1.6
                np_ = min(n - i_p, int(8 * sampling_rate))
                data[ci, i_p : i_p + np_] += amp * w_p * _packet(np_, sampling_rate, 6.0, 1.0, rng) / 0.2
                ns_ = min(n - i_s, int(12 * sampling_rate))
                if ns_ > 0:
                    data[ci, i_s : i_s + ns_] += amp * w_s * _packet(ns_, sampling_rate, 3.0, 2.0, rng) / 0.2
            ev = f"{event_prefix}{k:04d}"
            for phase, idx in (("P", i_p), ("S", i_s)):
                if idx < n:
                    rows.append(
                        {"event_id": ev, "trace_id": station, "phase": phase,
                         "time": str(start + idx / sampling_rate)}
                    )
    net, sta, loc = station.split(".")
    stream = obspy.Stream(
        [
            obspy.Trace(
                data[ci].astype(np.float32),
                {"network": net, "station": sta, "location": loc, "channel": channel_prefix + comp,
                 "sampling_rate": sampling_rate, "starttime": start},
            )
            for ci, comp in enumerate(components)
        ]
    )
    return stream, pd.DataFrame(rows, columns=["event_id", "trace_id", "phase", "time"])


def write_continuous(
    out_dir: str | Path,
    stations: list[str],
    days: list[str],
    duration_s: float = 86400.0,
    n_events_per_day: int = 200,
    sampling_rate: float = 100.0,
    snr: float = 20.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Write day-long miniSEED files ``waveforms/NET.STA.LOC.YYYY-MM-DD.mseed`` and ``catalog.csv``.

    Events are shared across stations (same ``event_id`` and similar times, shifted by a per-station
    move-out of up to 5 s), so the catalog supports event-clustered statistics. ``n_events_per_day=0``
    writes noise-only data (for false picks per station-hour).

    This is what ``seisforge data synth --continuous`` calls. Returns the catalog.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    catalogs = []
    for di, day in enumerate(days):
        rng = np.random.default_rng(seed + 1000 * di)
        times = random_event_times(duration_s - 10, n_events_per_day, rng) if n_events_per_day else []
        for si, sta in enumerate(stations):
            moveout = float(rng.uniform(0, 5))
            stream, cat = continuous_stream(
                sta, start=day, duration_s=duration_s, sampling_rate=sampling_rate,
                n_events=0, snr=snr, seed=seed + 1000 * di + si + 1,
                event_prefix=f"{day}-", event_times=[t + moveout for t in times],
            )
            (out / "waveforms").mkdir(exist_ok=True)
            stream.write(str(out / "waveforms" / f"{sta}.{day}.mseed"), format="MSEED", encoding="FLOAT32")
            catalogs.append(cat)
    catalog = pd.concat(catalogs, ignore_index=True) if catalogs else pd.DataFrame(
        columns=["event_id", "trace_id", "phase", "time"])
    catalog.to_csv(out / "catalog.csv", index=False)
    return catalog
