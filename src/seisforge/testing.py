"""Helpers for tests and benchmarks: synthetic continuous streams and pick-set agreement.

Not used by the ``seisforge`` commands.

- :func:`continuous_stream`, :func:`write_continuous`: synthetic continuous 3-C streams with inserted
  events and their catalog (offline test bed). Events and noise come from the same physics as
  ``seisforge data synth`` (:mod:`seisforge.data.synthetic`): P and S times from the 1-D velocity
  model, Brune source spectra, P mostly vertical and S mostly horizontal, coda decay, coloured
  background noise. The catalog lists the true arrival times, so picks can be scored with
  ``seisforge bench continuous``.
- :func:`picks_frame`, :func:`pick_set_f1`: how far two pick sets agree (e.g. seisforge against
  SeisBench ``classify``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import obspy
import pandas as pd

from seisforge.bench.picking.continuous import match_pick_frames

#: columns of the catalogs of :func:`continuous_stream` and :func:`write_continuous`
CATALOG_COLUMNS = ["event_id", "trace_id", "phase", "time"]
#: each event is simulated in a segment of this many seconds, starting ``_EVENT_LEAD_S`` before P
_EVENT_SEGMENT_S = 20
_EVENT_LEAD_S = 1
#: which simulated component (Z, N, E) a channel code's last letter receives
_ZNE = {"Z": 0, "N": 1, "E": 2, "1": 1, "2": 2}


def pick_set_f1(ref: pd.DataFrame, est: pd.DataFrame, tolerance: float,
                matches: pd.DataFrame | None = None) -> dict[str, float]:
    """Precision, recall and F1 of ``est`` against ``ref`` (see
    :func:`~seisforge.bench.picking.continuous.match_pick_frames`; ``matches``: its result for these
    tables at ``tolerance``, when the caller has it already)."""
    m = match_pick_frames(ref, est, tolerance) if matches is None else matches
    tp = int(((m.ref_index >= 0) & (m.est_index >= 0)).sum())
    n_ref, n_est = len(ref), len(est)
    precision = tp / n_est if n_est else float("nan")
    recall = tp / n_ref if n_ref else float("nan")
    f1 = 2 * tp / (n_ref + n_est) if (n_ref + n_est) else float("nan")
    max_res = float(np.nanmax(np.abs(m.residual))) if tp else float("nan")
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "n_ref": n_ref, "n_est": n_est,
            "max_abs_residual_s": max_res}


def picks_frame(picks) -> pd.DataFrame:
    """SeisBench ``Pick`` objects or seisforge picks -> ``trace_id``, ``phase``, ``time`` frame."""
    return pd.DataFrame(
        {"trace_id": [p.trace_id for p in picks], "phase": [p.phase for p in picks],
         "time": [p.peak_time.timestamp for p in picks]},
        columns=["trace_id", "phase", "time"],
    )


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
    if len(components) > 3:
        raise ValueError(f"at most 3 components, got {components!r}")
    data = _background_noise(rng, n, sampling_rate, len(components))
    if event_times is None and n_events > 0:
        event_times = list(random_event_times(duration_s, n_events, rng))
    rows = []
    for k, t_p in enumerate(event_times or []):
        i_p, i_s = _add_event(data, rng, float(t_p), sampling_rate, snr, components)
        rows += _arrival_rows(f"{event_prefix}{k:04d}", station, start, sampling_rate, n, i_p, i_s)
    stream = _stream_of(data, station, start, sampling_rate, channel_prefix, components)
    return stream, pd.DataFrame(rows, columns=CATALOG_COLUMNS)


def _background_noise(rng: np.random.Generator, n: int, sampling_rate: float, channels: int) -> np.ndarray:
    """``channels`` rows of coloured noise with unit standard deviation."""
    from seisforge.data.synthetic import coloured_noise

    data = coloured_noise(rng, n, sampling_rate)[:channels]
    return data / data.std(axis=-1, keepdims=True)


def _add_event(data: np.ndarray, rng: np.random.Generator, t_p: float, sampling_rate: float, snr: float,
               components: str) -> tuple[int, int]:
    """Add one event with its P arrival at ``t_p`` seconds to ``data`` (in place).

    The event is simulated at a random distance and depth, scaled so that its P packet peaks at about
    ``snr`` noise standard deviations. Returns the P and S sample indices.
    """
    from seisforge.data.synthetic import event_signal

    n = data.shape[-1]
    seg, lead = int(_EVENT_SEGMENT_S * sampling_rate), int(_EVENT_LEAD_S * sampling_rate)
    i_p = int(round(t_p * sampling_rate))
    dist, depth = float(rng.uniform(5, 45)), float(rng.uniform(2, 15))
    sig, s_local = event_signal(rng, seg, sampling_rate, dist, depth, float(rng.uniform(1.0, 3.0)), lead)
    peak = np.max(np.abs(sig[0, lead:lead + int(2 * sampling_rate)])) or 1.0
    sig = sig * snr * float(rng.uniform(0.7, 1.5)) / peak
    i0, i1 = i_p - lead, min(n, i_p - lead + seg)
    for ci, comp in enumerate(components):
        data[ci, i0:i1] += sig[_ZNE.get(comp, 1), : i1 - i0]
    return i_p, i_p + int(round(s_local - lead))


def _arrival_rows(event_id: str, station: str, start: obspy.UTCDateTime, sampling_rate: float, n: int,
                  i_p: int, i_s: int) -> list[dict[str, str]]:
    """Catalog rows of an event's P and S arrivals that fall inside the ``n`` samples of the stream."""
    return [{"event_id": event_id, "trace_id": station, "phase": phase, "time": str(start + idx / sampling_rate)}
            for phase, idx in (("P", i_p), ("S", i_s)) if idx < n]


def _stream_of(data: np.ndarray, station: str, start: obspy.UTCDateTime, sampling_rate: float,
               channel_prefix: str, components: str) -> obspy.Stream:
    """The float32 traces ``channel_prefix + component`` of ``station`` (``NET.STA.LOC``)."""
    net, sta, loc = station.split(".")
    return obspy.Stream(
        [
            obspy.Trace(
                data[ci].astype(np.float32),
                {"network": net, "station": sta, "location": loc, "channel": channel_prefix + comp,
                 "sampling_rate": sampling_rate, "starttime": start},
            )
            for ci, comp in enumerate(components)
        ]
    )


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

    Returns the catalog.
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
    catalog = pd.concat(catalogs, ignore_index=True) if catalogs else pd.DataFrame(columns=CATALOG_COLUMNS)
    catalog.to_csv(out / "catalog.csv", index=False)
    return catalog


def write_picks_dir(picks: pd.DataFrame, out_dir: str | Path, model: str = "oracle") -> Path:
    """Write ``picks`` (``trace_id``, ``phase``, ``time`` (UTC), optional ``prob``) as a ``seisforge pick``
    folder (one Parquet file per station-day), e.g. true arrivals as a perfect picker's output."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from seisforge.deploy.store import SCHEMA

    out = Path(out_dir)
    t = pd.to_datetime(picks["time"], utc=True)
    df = pd.DataFrame({"trace_id": picks["trace_id"].astype(str), "phase": picks["phase"].astype(str),
                       "peak_time": t, "peak_value": picks.get("prob", pd.Series(1.0, index=picks.index))
                       .astype("float32"), "start_time": t, "end_time": t, "model": model, "model_version": ""})
    df["day"] = t.dt.strftime("%Y-%m-%d")
    for (sid, day), grp in df.groupby(["trace_id", "day"]):
        path = out / "picks" / f"station={sid}" / f"day={day}" / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(grp.drop(columns="day").sort_values("peak_time"), schema=SCHEMA,
                                     preserve_index=False)
        pq.write_table(table, path)


def write_random_pretrain_run(out: str | Path, args: dict | None = None, seed: int = 0, in_channels: int = 3,
                              component_order: str = "ZNE", sampling_rate: float = 100.0,
                              window_samples: int = 3001) -> Path:
    """A ``seisforge pretrain``-shaped run directory holding a randomly initialised patch-transformer encoder.

    Written with :func:`seisforge.models.encoders.pretrained.save_encoder` (the pretrain run-directory
    contract, plus ``model_card.json``), so adaptation can be tested, and studied as a "no pretraining"
    control, without running ``seisforge pretrain``.
    """
    import torch

    from seisforge.models.card import ModelCard, write_card
    from seisforge.models.encoders import PatchTransformerEncoder
    from seisforge.models.encoders.pretrained import save_encoder

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    encoder = PatchTransformerEncoder(in_channels=in_channels, **(args or {}))
    save_encoder(out, encoder, {"kind": "patch_transformer", "args": encoder.config(), "in_channels": in_channels,
                                "component_order": component_order, "sampling_rate": sampling_rate,
                                "window_samples": window_samples})
    write_card(ModelCard(model_class="PatchTransformerEncoder", sampling_rate=sampling_rate,
                         window_samples=window_samples, component_order=component_order, labels="-",
                         training={"command": "seisforge.testing.write_random_pretrain_run", "seed": seed,
                                   "objective": "none (random initialisation)"}), out)
    return out
