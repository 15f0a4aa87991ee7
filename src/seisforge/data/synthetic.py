"""Synthetic labelled 3-C seismograms with plausible physics, written as a SeisBench dataset.

Physics (deliberately simple, but with the features a picker must learn):

- **Travel times** from a 1-D velocity model with a linear gradient ``v(z) = v0 + g z``; the exact ray
  travel time between a source at depth ``z`` and a surface receiver at epicentral distance ``x`` is
  ``t = arccosh(1 + g^2 (x^2 + z^2) / (2 v(z) v0)) / g``. S uses ``vp/vs = 1.73``.
- **Source spectra**: Brune omega-square displacement spectra with a magnitude-dependent corner
  frequency, higher for P than for S (``fc_P = 1.5 fc_S``), and whole-path attenuation
  ``exp(-pi f t / Q)``; the time series is random-phase noise shaped by that spectrum (velocity).
- **Envelopes**: a short rise and an exponential coda whose duration grows with distance and magnitude.
- **Amplitudes** scale with magnitude and geometric spreading/attenuation (a local magnitude relation);
  S is about 3-5 times P.
- **Polarisation**: P mostly on Z (steep incidence), S mostly on the horizontals, with a random
  back-azimuth / polarisation angle.
- **Noise**: coloured (1/f^alpha plus a microseism bump) with a controlled SNR (``trace_snr_db``: ratio
  of the Z signal power in the 3 s after P to the noise power, in dB).
- **Transients**: non-seismic spikes and short ringing glitches in some traces (noise traces too), which
  fool energy detectors but not a picker that has learnt onset shape and polarisation.
- **Second events** inside some traces (``trace_p2/s2_arrival_sample``), and **noise-only traces**.
- ``second_event_min_rel_amp`` scales a second event up to at least that fraction of the first event's
  peak amplitude (0: natural amplitudes, often invisible), for seeding detectable multiplets.
- **Noisy noise traces** (``noise_event_prob``): noise-category traces that contain an unlabelled event
  (``trace_noise_has_event``; its P onset, deliberately not a pick column, in
  ``trace_hidden_event_sample``), the label error that noise-pool screening and clean-labels must catch.

Events are placed in a 2-D map with stations; each event is recorded by several stations, so splits
must be made per event (they are: ``split`` is event-level).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from seisforge.data.sources import write_dataset
from seisforge.data.splits import assign_event_splits
from seisforge.errors import DataError
from seisforge.runinfo import RunReport

V0 = 5.5  # km/s at the surface
GRAD = 0.025  # 1/s
VPVS = 1.73


@dataclass
class SynthConfig:
    """Parameters of :func:`synthesize`."""

    events: int = 200
    noise_traces: int = 100
    seed: int = 0
    sampling_rate: float = 100.0
    duration_s: float = 60.0
    stations: int = 24
    area_km: float = 160.0
    max_stations_per_event: int = 4
    second_event_prob: float = 0.1
    label_second_events: bool = True
    snr_db_range: tuple[float, float] = (-5.0, 30.0)
    transient_prob: float = 0.3
    noise_event_prob: float = 0.0
    second_event_min_rel_amp: float = 0.0
    magnitude_range: tuple[float, float] = (0.5, 4.0)
    depth_range_km: tuple[float, float] = (2.0, 25.0)
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)


def travel_time(dist_km: np.ndarray, depth_km: np.ndarray, phase: str = "P") -> np.ndarray:
    """Exact travel time (s) in the linear-gradient model for a surface receiver."""
    scale = 1.0 if phase == "P" else VPVS
    v0 = V0 / scale
    g = GRAD / scale
    vz = v0 + g * depth_km
    arg = 1.0 + g**2 * (dist_km**2 + depth_km**2) / (2.0 * vz * v0)
    return np.arccosh(arg) / g


def corner_frequency(mag: float) -> float:
    """S-wave corner frequency (Hz) for magnitude ``mag`` (about 9 Hz at M1, 1 Hz at M4)."""
    return float(10 ** (1.3 - 0.33 * mag))


def _shaped_noise(rng: np.random.Generator, n: int, fs: float, amp_spec) -> np.ndarray:
    freqs = np.fft.rfftfreq(n, 1 / fs)
    phase = np.exp(2j * np.pi * rng.random(len(freqs)))
    spec = amp_spec(freqs) * phase
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    return x / (np.std(x) + 1e-12)


def _wavelet(rng, n, fs, fc, t_travel, q, rise_s, coda_s):
    """Unit-peak-envelope velocity wavelet starting at sample 0."""
    def spec(f):
        return f / (1 + (f / fc) ** 2) * np.exp(-np.pi * f * t_travel / q)

    x = _shaped_noise(rng, n, fs, spec)
    t = np.arange(n) / fs
    env = (1 - np.exp(-t / rise_s)) * np.exp(-t / coda_s)
    return x * env


def _transients(rng, n, fs, prob: float) -> np.ndarray:
    """Non-seismic bursts (spikes, short ringing glitches) on random components, unit scale."""
    out = np.zeros((3, n))
    if rng.random() >= prob:
        return out
    for _ in range(int(rng.integers(1, 4))):
        c = int(rng.integers(0, 3))
        i = int(rng.integers(0, n - int(fs)))
        m = int(rng.uniform(0.05, 0.8) * fs)
        t = np.arange(m) / fs
        f = rng.uniform(2, 25)
        out[c, i:i + m] += rng.uniform(2, 8) * np.sin(2 * np.pi * f * t) * np.exp(-t / (0.2 * t[-1] + 1e-3))
    return out


def coloured_noise(rng: np.random.Generator, n: int, fs: float) -> np.ndarray:
    """Three unit-variance components of coloured noise: 1/f^alpha plus a random microseism bump."""
    alpha = rng.uniform(0.5, 1.5)
    micro = rng.uniform(0.0, 3.0)
    f_micro = rng.uniform(0.15, 0.4)

    def spec(f):
        f = np.maximum(f, 0.05)
        return f ** (-alpha / 2) + micro * np.exp(-((np.log(f / f_micro)) ** 2) / 0.1)

    return np.stack([_shaped_noise(rng, n, fs, spec) for _ in range(3)])


def event_signal(rng: np.random.Generator, n: int, fs: float, dist: float, depth: float, mag: float,
                 p_sample: float) -> tuple[np.ndarray, float]:
    """Z, N, E signal of one event with P at ``p_sample``; returns (signal, s_sample)."""
    tp = travel_time(np.array(dist), np.array(depth), "P")
    ts = travel_time(np.array(dist), np.array(depth), "S")
    s_sample = p_sample + (ts - tp) * fs
    hyp = np.hypot(dist, depth)
    fc_s = corner_frequency(mag)
    coda = 0.4 + 0.02 * hyp + 0.5 * mag
    amp = 10 ** (mag - 1.11 * np.log10(hyp) - 0.00189 * hyp)
    out = np.zeros((3, n))
    baz = rng.uniform(0, 2 * np.pi)
    inc = np.deg2rad(rng.uniform(5, 35))
    for phase, onset, fc, q, rel in (
        ("P", p_sample, 1.5 * fc_s, 400.0, 1.0),
        ("S", s_sample, fc_s, 250.0, rng.uniform(3.0, 5.0)),
    ):
        start = int(round(onset))
        if start >= n:
            continue
        frac = onset - start
        m = n - start
        w = _wavelet(rng, m + 1, fs, fc, float(tp if phase == "P" else ts), q,
                     rise_s=rng.uniform(0.02, 0.5) if phase == "P" else rng.uniform(0.05, 0.6),
                     coda_s=coda * (1.0 if phase == "P" else 1.3))
        w = np.interp(np.arange(m) + (1 - frac), np.arange(m + 1), w) if frac else w[:m]
        w = w * amp * rel
        if phase == "P":
            comps = (np.cos(inc), np.sin(inc) * np.cos(baz), np.sin(inc) * np.sin(baz))
        else:
            pol = rng.uniform(0, 2 * np.pi)
            comps = (rng.uniform(0.05, 0.25), np.cos(pol), np.sin(pol))
        for c in range(3):
            out[c, start:] += comps[c] * w
    return out, float(s_sample)


def _scaled_to_snr(noise: np.ndarray, sig_z_power: float, snr_db: float) -> np.ndarray:
    """``noise`` scaled so that the Z signal power over the Z noise power is ``snr_db``."""
    target = sig_z_power / 10 ** (snr_db / 10)
    return noise * np.sqrt(target / (np.mean(noise[0] ** 2) + 1e-30))


def _random_magnitude(rng: np.random.Generator, cfg: SynthConfig) -> float:
    lo, hi = cfg.magnitude_range
    return float(np.clip(lo + rng.exponential(0.6), lo, hi))


def _add_second_event(rng: np.random.Generator, cfg: SynthConfig, sig: np.ndarray, row: dict,
                      p_sample: float, s_sample: float) -> np.ndarray:
    """With probability ``second_event_prob``, a later event added to ``sig`` (labelled in ``row`` when
    ``label_second_events``); returns the signal."""
    fs, n = cfg.sampling_rate, sig.shape[-1]
    if rng.random() >= cfg.second_event_prob:
        return sig
    p2 = float(rng.uniform(min(max(s_sample, p_sample) + 2 * fs, n), n + 10 * fs))
    if p2 >= n - fs:
        return sig
    mag2 = _random_magnitude(rng, cfg)
    sig2, s2 = event_signal(rng, n, fs, rng.uniform(5, 120), rng.uniform(2, 25), mag2, p2)
    if cfg.second_event_min_rel_amp > 0:  # make seeded multiplets visible on demand
        peak1, peak2 = np.abs(sig).max(), np.abs(sig2).max() + 1e-30
        sig2 = sig2 * max(1.0, cfg.second_event_min_rel_amp * peak1 / peak2)
    row["trace_multiplet"] = True
    if cfg.label_second_events:
        row["trace_p2_arrival_sample"] = round(p2, 2)
        row["trace_s2_arrival_sample"] = round(s2, 2)
    return sig + sig2


def _event_trace(rng: np.random.Generator, cfg: SynthConfig, n: int, event: dict, st: int,
                 sta_xy: np.ndarray) -> tuple[dict, np.ndarray]:
    """Metadata row and waveform of ``event`` (``ev``, ``x``, ``y``, ``depth``, ``mag``, ``origin``)
    recorded at station ``st``."""
    fs = cfg.sampling_rate
    depth, mag, origin = event["depth"], event["mag"], event["origin"]
    dist = float(np.hypot(event["x"] - sta_xy[st, 0], event["y"] - sta_xy[st, 1]))
    sp = float(travel_time(np.array(dist), np.array(depth), "S")
               - travel_time(np.array(dist), np.array(depth), "P")) * fs
    # keep S inside the trace where the S-P time allows; P anywhere from 4 s on
    p_sample = float(rng.uniform(4 * fs, max(4 * fs + 1, min(0.8 * n, n - sp - 4 * fs))))
    sig, s_sample = event_signal(rng, n, fs, dist, depth, mag, p_sample)
    i0 = int(p_sample)
    win = sig[0, i0:i0 + int(3 * fs)]
    power = float(np.mean(win**2)) if len(win) else 1.0
    snr = float(rng.uniform(*cfg.snr_db_range))
    noise = _scaled_to_snr(coloured_noise(rng, n, fs) + _transients(rng, n, fs, cfg.transient_prob), power, snr)
    row = {
        "trace_name": f"ev{event['ev']:06d}_SY.S{st:02d}",
        "trace_category": "earthquake",
        "source_id": f"syn{cfg.seed}_{event['ev']:06d}",
        "source_origin_time": str(origin),
        "source_magnitude": round(mag, 2),
        "source_magnitude_type": "ML",
        "source_depth_km": round(depth, 2),
        "path_ep_distance_km": round(dist, 2),
        "path_hyp_distance_km": round(float(np.hypot(dist, depth)), 2),
        "trace_snr_db": round(snr, 2),
        "trace_p_arrival_sample": round(p_sample, 2),
        "trace_s_arrival_sample": round(s_sample, 2),
        "trace_p2_arrival_sample": np.nan,
        "trace_s2_arrival_sample": np.nan,
        "trace_multiplet": False,
        "trace_noise_has_event": False,
        "trace_hidden_event_sample": np.nan,
        "station_network_code": "SY",
        "station_code": f"S{st:02d}",
        "trace_sampling_rate_hz": fs,
        "trace_start_time": str(
            origin + np.timedelta64(int(1000 * (travel_time(np.array(dist), np.array(depth), "P")
                                                - p_sample / fs)), "ms")),
    }
    sig = _add_second_event(rng, cfg, sig, row, p_sample, s_sample)
    return row, (sig + noise).astype(np.float32)


def _event_traces(rng: np.random.Generator, cfg: SynthConfig, n: int, ev: int, sta_xy: np.ndarray,
                  t0: np.datetime64) -> list[tuple[dict, np.ndarray]]:
    """Rows and waveforms of event number ``ev`` at 1 to ``max_stations_per_event`` stations."""
    ex, ey = rng.uniform(-0.25, 1.25, size=2) * cfg.area_km
    depth = rng.uniform(*cfg.depth_range_km)
    mag = _random_magnitude(rng, cfg)
    origin = t0 + np.timedelta64(int(ev * 3600 + rng.integers(0, 3000)), "s")
    event = {"ev": ev, "x": ex, "y": ey, "depth": depth, "mag": mag, "origin": origin}
    n_sta = int(rng.integers(1, cfg.max_stations_per_event + 1))
    stations = rng.choice(cfg.stations, size=n_sta, replace=False)
    return [_event_trace(rng, cfg, n, event, st, sta_xy) for st in stations]


def _noise_trace(rng: np.random.Generator, cfg: SynthConfig, n: int, k: int,
                 t0: np.datetime64) -> tuple[dict, np.ndarray]:
    """Row and waveform of noise trace number ``k`` (with an unlabelled event when ``noise_event_prob``
    draws one)."""
    fs = cfg.sampling_rate
    sta = int(rng.integers(0, cfg.stations))
    noise = (coloured_noise(rng, n, fs) + _transients(rng, n, fs, cfg.transient_prob)) * 10 ** rng.uniform(-2, 0)
    has_event = bool(cfg.noise_event_prob > 0 and rng.random() < cfg.noise_event_prob)
    if has_event:  # an unlabelled event hidden in a noise trace, at an SNR in the configured range
        p_hidden = float(rng.uniform(4 * fs, 0.7 * n))
        sig, _ = event_signal(rng, n, fs, rng.uniform(5, 120), rng.uniform(*cfg.depth_range_km),
                              _random_magnitude(rng, cfg), p_hidden)
        i0 = int(p_hidden)
        power = float(np.mean(sig[0, i0:i0 + int(3 * fs)] ** 2)) or 1.0
        noise = sig + _scaled_to_snr(noise, power, float(rng.uniform(*cfg.snr_db_range)))
    row = {
        "trace_name": f"noise{k:06d}_SY.S{sta:02d}",
        "trace_category": "noise",
        "source_id": "",
        "station_network_code": "SY",
        "station_code": f"S{sta:02d}",
        "trace_sampling_rate_hz": fs,
        "trace_p_arrival_sample": np.nan,
        "trace_s_arrival_sample": np.nan,
        "trace_p2_arrival_sample": np.nan,
        "trace_s2_arrival_sample": np.nan,
        "trace_multiplet": False,
        "trace_noise_has_event": has_event,
        "trace_hidden_event_sample": round(p_hidden, 2) if has_event else np.nan,
        "trace_start_time": str(t0 + np.timedelta64(int(rng.integers(0, 10**7)), "s")),
    }
    return row, noise.astype(np.float32)


def synthesize(cfg: SynthConfig, out: str | Path) -> RunReport:
    """Write a synthetic SeisBench-format dataset (``metadata.csv`` + ``waveforms.hdf5``) to ``out``.

    One random generator (seeded with ``cfg.seed``) is drawn from in a fixed order: station positions,
    then every event (its traces station by station), then every noise trace, so the output depends on
    the configuration alone.

    Returns
    -------
    RunReport
        Also written to ``out/run_report.json``.
    """
    if cfg.events < 0 or cfg.noise_traces < 0 or cfg.events + cfg.noise_traces == 0:
        raise DataError("synth needs at least one event or noise trace")
    out = Path(out)
    if (out / "metadata.csv").exists():
        raise DataError(f"{out} already holds a dataset; choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    n = int(round(cfg.duration_s * cfg.sampling_rate))
    sta_xy = rng.uniform(0, cfg.area_km, size=(cfg.stations, 2))
    t0 = np.datetime64("2020-01-01T00:00:00")
    traces = []
    for ev in tqdm(range(cfg.events), desc="synthesizing events", unit="event"):
        traces += _event_traces(rng, cfg, n, ev, sta_xy, t0)
    traces += [_noise_trace(rng, cfg, n, k, t0) for k in range(cfg.noise_traces)]
    report = RunReport("data synth")
    report.processed = len(traces)
    meta = pd.DataFrame([row for row, _ in traces])
    split_ids = np.where(meta["source_id"] == "", meta["trace_name"], meta["source_id"])
    meta["split"] = assign_event_splits(split_ids, cfg.fractions, cfg.seed)
    write_dataset(out, meta, [wave for _, wave in traces], unit="arbitrary", instrument_response="synthetic")
    report.notes.update({
        "config": {k: v for k, v in cfg.__dict__.items()},
        "traces_per_split": meta["split"].value_counts().to_dict(),
        "multiplets": int(meta["trace_multiplet"].sum()),
        "noise_traces_with_event": int(meta.get("trace_noise_has_event", pd.Series(dtype=bool)).sum()),
    })
    report.write(out)
    return report


def synthetic_metadata(n_rows: int, dataset: str = "synth", seed: int = 0, chunks: int = 1,
                       noise_fraction: float = 0.1, traces_per_event: float = 4.0) -> pd.DataFrame:
    """SeisBench-style metadata rows without waveforms (for manifest benchmarks and policy tests).

    Events get ``source_id``, origin time, hypocentre and magnitude, and are recorded by about
    ``traces_per_event`` stations at log-uniform distances from 1 to 10,000 km (all distance bins);
    P picks are present, S picks for about 80 % of event traces. A ``noise_fraction`` of rows are noise
    traces. Trace names repeat across ``chunks``, as in chunked SeisBench datasets.
    """
    rng = np.random.default_rng(seed)
    noise = rng.random(n_rows) < noise_fraction
    n_events = max(int((~noise).sum() / traces_per_event), 1)
    ev = rng.integers(0, n_events, size=n_rows)
    ev_mag = np.round(np.clip(rng.exponential(0.8, n_events) + 0.5, 0.5, 8.0), 2)
    ev_depth = np.round(rng.uniform(0, 150, n_events), 1)
    ev_time = np.datetime64("2000-01-01T00:00:00") + (rng.uniform(0, 20 * 365 * 86400, n_events)).astype("timedelta64[s]")
    dist = np.round(10 ** rng.uniform(0, 4, n_rows), 2)
    fs = rng.choice([20.0, 50.0, 100.0], size=n_rows)
    p = np.round(rng.uniform(5, 30, n_rows) * fs, 2)
    s = np.where(rng.random(n_rows) < 0.8, np.round(p + dist / 8 * fs * 0.73, 2), np.nan)
    chunk = rng.integers(0, chunks, size=n_rows).astype(str)
    idx = np.zeros(n_rows, dtype=np.int64)
    for c in np.unique(chunk):  # names restart in each chunk, so they repeat across chunks
        m = chunk == c
        idx[m] = np.arange(m.sum())
    meta = pd.DataFrame({
        "trace_name": pd.Series(idx).map("bucket{:d}$0".format).to_numpy(),
        "trace_chunk": chunk,
        "trace_category": np.where(noise, "noise", "earthquake"),
        "source_id": np.where(noise, "", pd.Series(ev).map(f"{dataset}_ev{{:07d}}".format).to_numpy()),
        "source_origin_time": np.where(noise, None, ev_time[ev].astype(str)),
        "source_latitude_deg": np.where(noise, np.nan, np.round(rng.uniform(-60, 60, n_events)[ev], 3)),
        "source_longitude_deg": np.where(noise, np.nan, np.round(rng.uniform(-180, 180, n_events)[ev], 3)),
        "source_depth_km": np.where(noise, np.nan, ev_depth[ev]),
        "source_magnitude": np.where(noise, np.nan, ev_mag[ev]),
        "station_network_code": "XX",
        "station_code": pd.Series(rng.integers(0, 500, n_rows)).map("S{:03d}".format).to_numpy(),
        "path_ep_distance_km": np.where(noise, np.nan, dist),
        "trace_sampling_rate_hz": fs,
        "trace_p_arrival_sample": np.where(noise, np.nan, p),
        "trace_s_arrival_sample": np.where(noise, np.nan, s),
        "trace_snr_db": np.where(noise, np.nan, np.round(rng.normal(12, 8, n_rows), 1)),
        "split": rng.choice(["train", "dev", "test"], p=[0.6, 0.2, 0.2], size=n_rows),
    })
    return meta
