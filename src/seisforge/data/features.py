"""Per-trace waveform features for manifests and rebalancing: travel-time gap, spectra, polarity, regime.

Manifest columns (documented in ``docs/formats.md`` and ``docs/datasets.md``):

- ``ts_minus_tp_s``: ``(s_sample - p_sample) / sampling_rate`` where both picks exist and S is after P
  (metadata only);
- ``p_dominant_freq_hz``, ``p_spectral_centroid_hz``: of the vertical in ``window_s`` after P (ended at S
  when S comes earlier; NaN when fewer than ``min_window_s`` remain);
- ``s_dominant_freq_hz``, ``s_spectral_centroid_hz``: of the horizontals (summed power; the vertical
  when the trace has no live horizontal) in ``window_s`` after S;
- ``p_polarity`` (+1 up, -1 down, NaN unknown) and ``p_polarity_confidence`` (0-1): the first motion on Z;
- ``tectonic_regime``: from a metadata column, else a user mapping (region boxes, then dataset name);
  ``""`` when unknown.

Spectra: the window is demeaned, Hann-tapered over its own length, zero-padded to ``nfft`` (4x the
window, for a finer frequency grid) and transformed with ``numpy.fft.rfft``; the dominant frequency is
the maximum of the power spectrum above ``fmin_hz``, the centroid ``sum(f P) / sum(P)`` over the same
band. Polarity: the pre-P noise (``[p - 1 s, p - 0.1 s)``) gives a mean and a standard deviation; the
first sample in ``[p - 2, p + polarity_window_s)`` whose deviation from the noise mean exceeds
``3 sigma`` gives the sign; the confidence is ``1 - 3 sigma / max|deviation|`` in that window (0 at the
detection level, towards 1 for a sharp onset). Below ``min_polarity_confidence`` the sign is NaN
(unknown) and the confidence is kept, so that unclear onsets are counted, never guessed.

Everything after reading is vectorised over traces (windows are gathered into arrays, one FFT per
batch). No library computes these four quantities on a batch of variable-length windows with
per-trace onsets; ObsPy's ``signal`` helpers work trace by trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

WAVEFORM_COLUMNS = ["p_dominant_freq_hz", "p_spectral_centroid_hz", "s_dominant_freq_hz", "s_spectral_centroid_hz",
                    "p_polarity", "p_polarity_confidence"]
#: feature columns appended to the manifest, in order
FEATURE_COLUMNS = ["ts_minus_tp_s", *WAVEFORM_COLUMNS, "tectonic_regime"]
#: metadata columns that carry a tectonic regime directly
REGIME_METADATA_COLUMNS = ("source_tectonic_regime", "tectonic_regime")


@dataclass
class FeatureConfig:
    """Feature settings (``features:`` in the manifest config).

    ``enabled`` reads every waveform once (a separate pass from QC) for the spectral and polarity
    columns; without it those columns are NaN. ``ts_minus_tp_s`` and ``tectonic_regime`` come from the
    metadata and are always filled. ``regime_by_dataset`` maps dataset names to regimes;
    ``regime_regions`` is a list of ``{lat: [min, max], lon: [min, max], regime: NAME}`` boxes matched
    on the source (else station) coordinates, first match wins, before the dataset mapping.
    """

    enabled: bool = False
    window_s: float = 2.0
    min_window_s: float = 0.5
    fmin_hz: float = 0.5
    polarity_window_s: float = 0.1
    min_polarity_confidence: float = 0.5
    regime_by_dataset: dict[str, str] = field(default_factory=dict)
    regime_regions: list[dict] = field(default_factory=list)
    batch_size: int = 512


# --------------------------------------------------------------------------- metadata features


def ts_minus_tp(p_sample: np.ndarray, s_sample: np.ndarray, sampling_rate: np.ndarray) -> np.ndarray:
    """S minus P time (s) where both picks exist and S is after P; NaN elsewhere."""
    p, s, sr = (np.asarray(a, float) for a in (p_sample, s_sample, sampling_rate))
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (s - p) / sr
    return np.where(np.isfinite(d) & (d > 0), d, np.nan)


def tectonic_regime(meta: pd.DataFrame, dataset: str, cfg: FeatureConfig) -> np.ndarray:
    """Regime per row: a metadata column, else the first matching region box, else the dataset mapping, else ``""``."""
    n = len(meta)
    out = np.full(n, "", dtype=object)
    for col in REGIME_METADATA_COLUMNS:
        if col in meta.columns:
            v = meta[col].astype("string").fillna("").str.strip().to_numpy(dtype=object)
            take = (out == "") & (v != "") & (v != "nan")
            out[take] = v[take]
    if cfg.regime_regions:
        lat = _coordinate(meta, "latitude")
        lon = _coordinate(meta, "longitude")
        for box in cfg.regime_regions:
            inside = ((lat >= box["lat"][0]) & (lat <= box["lat"][1]) & (lon >= box["lon"][0]) & (lon <= box["lon"][1]))
            take = (out == "") & inside
            out[take] = str(box["regime"])
    if dataset in cfg.regime_by_dataset:
        out[out == ""] = str(cfg.regime_by_dataset[dataset])
    return out


def _coordinate(meta: pd.DataFrame, which: str) -> np.ndarray:
    """Source coordinate, else station coordinate (degrees); NaN when neither."""
    out = np.full(len(meta), np.nan)
    for col in (f"source_{which}_deg", f"station_{which}_deg"):
        if col in meta.columns:
            v = pd.to_numeric(meta[col], errors="coerce").to_numpy(dtype=float)
            out = np.where(np.isnan(out), v, out)
    return out


# --------------------------------------------------------------------------- waveform features (vectorised)


def _windows(waves: list[np.ndarray], comps: list[np.ndarray], start: np.ndarray, length: np.ndarray,
             width: int) -> np.ndarray:
    """``(N, 3, width)`` windows (component slots beyond a trace's selection stay zero)."""
    out = np.zeros((len(waves), 3, width), dtype=np.float64)
    for i, (w, c) in enumerate(zip(waves, comps)):
        n = int(length[i])
        if n <= 0 or len(c) == 0:
            continue
        seg = w[c, int(start[i]):int(start[i]) + n]
        out[i, :seg.shape[0], :seg.shape[1]] = seg
    return out


def spectral_features(win: np.ndarray, length: np.ndarray, sampling_rate: np.ndarray,
                      fmin_hz: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Dominant frequency and spectral centroid (Hz) of windows ``(N, C, W)`` with valid ``length`` per row.

    Power is summed over the C components. Rows with ``length < 2`` are NaN.
    """
    n, _, width = win.shape
    t = np.arange(width)[None, :]
    L = np.asarray(length, float)[:, None]
    valid = t < L
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (win * valid[:, None]).sum(-1, keepdims=True) / np.maximum(L, 1)[:, None]
        taper = np.where(valid, 0.5 * (1 - np.cos(2 * np.pi * t / np.maximum(L - 1, 1))), 0.0)
    x = (win - mean) * taper[:, None]
    nfft = 4 * width
    power = (np.abs(np.fft.rfft(x, n=nfft, axis=-1)) ** 2).sum(axis=1)  # (N, F)
    freqs = np.fft.rfftfreq(nfft)[None, :] * np.asarray(sampling_rate, float)[:, None]  # per-row Hz
    band = freqs >= fmin_hz
    pb = np.where(band, power, 0.0)
    dom = freqs[np.arange(n), np.argmax(pb, axis=1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        cen = (pb * freqs).sum(1) / pb.sum(1)
    bad = (np.asarray(length) < 2) | (pb.sum(1) <= 0)
    return np.where(bad, np.nan, dom), np.where(bad, np.nan, cen)


def first_motion(z: np.ndarray, onset: np.ndarray, sampling_rate: np.ndarray, window_s: float = 0.1,
                 min_confidence: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """P first-motion sign (+1 up, -1 down, NaN unclear) and confidence (0-1) on vertical traces.

    ``z`` is ``(N, T)`` (zero-padded), ``onset`` the P sample per row (NaN: no P). See the module docstring.
    """
    n, total = z.shape
    sr = np.asarray(sampling_rate, float)
    p = np.asarray(onset, float)
    ok = np.isfinite(p) & np.isfinite(sr) & (p - sr >= 0) & (p + window_s * sr < total)
    sign, conf = np.full(n, np.nan), np.full(n, np.nan)
    if not ok.any():
        return sign, conf
    rows = np.flatnonzero(ok)
    pi, si = np.round(p[rows]).astype(int), sr[rows]
    n_noise = np.round(0.9 * si).astype(int)
    width_n = int(n_noise.max())
    tn = np.arange(width_n)[None, :]
    noise_idx = (pi - np.round(si).astype(int))[:, None] + tn
    nmask = tn < n_noise[:, None]
    noise = np.where(nmask, z[rows[:, None], np.clip(noise_idx, 0, total - 1)], np.nan)
    mu, sd = np.nanmean(noise, 1), np.nanstd(noise, 1)
    m = np.round(window_s * si).astype(int) + 2
    width_s = int(m.max())
    ts = np.arange(width_s)[None, :]
    sig_idx = (pi - 2)[:, None] + ts
    smask = ts < m[:, None]
    dev = np.where(smask, z[rows[:, None], np.clip(sig_idx, 0, total - 1)] - mu[:, None], 0.0)
    level = 3 * np.maximum(sd, 1e-12 * np.maximum(np.abs(dev).max(1), 1e-30))
    above = np.abs(dev) > level[:, None]
    has = above.any(1)
    first = np.argmax(above, axis=1)
    s = np.sign(dev[np.arange(len(rows)), first])
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.clip(1 - level / np.abs(dev).max(1), 0, 1)
    c = np.where(has, c, 0.0)
    conf[rows] = c
    sign[rows] = np.where(has & (c >= min_confidence), s, np.nan)
    return sign, conf


def _live_horizontals(wave: np.ndarray, order: str) -> np.ndarray:
    hz = [i for i, ch in enumerate(order) if ch != "Z" and i < len(wave) and np.any(wave[i])]
    return np.asarray(hz if hz else [order.find("Z") if "Z" in order else 0], dtype=int)


def waveform_features(waves: list[np.ndarray], p_sample: np.ndarray, s_sample: np.ndarray,
                      sampling_rate: np.ndarray, cfg: FeatureConfig, component_order: str = "ZNE") -> pd.DataFrame:
    """The :data:`WAVEFORM_COLUMNS` of a batch of traces ``(C, T)`` (ZNE order unless given)."""
    n = len(waves)
    sr = np.asarray(sampling_rate, float)
    p, s = np.asarray(p_sample, float), np.asarray(s_sample, float)
    iz = component_order.find("Z") if "Z" in component_order else 0
    npts = np.asarray([w.shape[-1] for w in waves])
    win = int(np.ceil(cfg.window_s * np.nanmax(sr))) if n and np.isfinite(sr).any() else 1
    out = {}
    for phase, onset, end in (("p", p, np.where(s > p, s, np.inf)), ("s", s, np.full(n, np.inf))):
        start = np.where(np.isfinite(onset), np.round(onset), 0).astype(int)
        stop = np.minimum(np.minimum(start + np.round(cfg.window_s * sr), npts), np.where(np.isfinite(end), end, np.inf))
        length = np.where(np.isfinite(onset) & np.isfinite(sr), np.floor(stop - start), 0).astype(int)
        length = np.where(length >= cfg.min_window_s * sr, length, 0)
        comps = [np.asarray([iz]) if phase == "p" else _live_horizontals(w, component_order) for w in waves]
        dom, cen = spectral_features(_windows(waves, comps, start, length, win), length, sr, cfg.fmin_hz)
        out[f"{phase}_dominant_freq_hz"], out[f"{phase}_spectral_centroid_hz"] = dom, cen
    # polarity: only [p - 1 s, p + polarity_window_s + 2 samples) of Z is needed
    pre = np.where(np.isfinite(sr), np.round(sr), 0).astype(int)
    start = np.where(np.isfinite(p), np.round(p), 0).astype(int) - pre
    inside = np.isfinite(p) & (start >= 0) & (p + cfg.polarity_window_s * sr + 2 < npts)
    width = int(np.ceil(np.nanmax(sr) * (1 + cfg.polarity_window_s))) + 4 if n and np.isfinite(sr).any() else 1
    z = _windows(waves, [np.asarray([iz])] * n, start, np.where(inside, width, 0), width)[:, 0]
    out["p_polarity"], out["p_polarity_confidence"] = first_motion(
        z, np.where(inside, p - start, np.nan), sr, cfg.polarity_window_s, cfg.min_polarity_confidence)
    return pd.DataFrame(out)[WAVEFORM_COLUMNS]


def dataset_features(ds, p_sample: np.ndarray, s_sample: np.ndarray, sampling_rate: np.ndarray,
                     cfg: FeatureConfig, desc: str = "features") -> pd.DataFrame:
    """:data:`WAVEFORM_COLUMNS` for every row of a SeisBench dataset (rows in metadata order).

    Each trace is read once (``ds.get_waveforms``); traces are processed in batches of
    ``cfg.batch_size``. Unreadable traces get NaN features.
    """
    n = len(ds.metadata)
    order = getattr(ds, "component_order", "ZNE")
    npts = (pd.to_numeric(ds.metadata["trace_npts"], errors="coerce").to_numpy() if "trace_npts" in ds.metadata
            else np.full(n, np.nan))
    frames = []
    for b0 in tqdm(range(0, n, cfg.batch_size), desc=desc, unit="batch", leave=False):
        idx = range(b0, min(b0 + cfg.batch_size, n))
        waves, bad = _read_batch(ds, idx, npts, len(order))
        f = waveform_features(waves, p_sample[idx.start:idx.stop], s_sample[idx.start:idx.stop],
                              sampling_rate[idx.start:idx.stop], cfg, order)
        f.iloc[bad] = np.nan
        frames.append(f)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=WAVEFORM_COLUMNS)


def _read_batch(ds, idx: range, npts: np.ndarray, n_comp: int) -> tuple[list[np.ndarray], list[int]]:
    """Traces ``idx`` (one SeisBench read of the batch, zero-padded, trimmed back to ``trace_npts``; trace by
    trace when the batch read fails) and the positions of unreadable ones."""
    try:
        block = np.asarray(ds.get_waveforms(np.arange(idx.start, idx.stop)), dtype=np.float64)
        return [block[j][:, :int(npts[i])] if np.isfinite(npts[i]) else block[j]
                for j, i in enumerate(idx)], []
    except Exception:  # a corrupt trace in the batch: read one by one to find it
        waves, bad = [], []
        for i in idx:
            try:
                waves.append(np.asarray(ds.get_waveforms(i), dtype=np.float64))
            except Exception:  # unreadable: QC flags and drops it; here NaN features
                waves.append(np.zeros((n_comp, 1)))
                bad.append(i - idx.start)
        return waves, bad


def empty_waveform_features(n: int) -> pd.DataFrame:
    """NaN :data:`WAVEFORM_COLUMNS` for ``n`` rows (features not computed)."""
    return pd.DataFrame({c: np.full(n, np.nan) for c in WAVEFORM_COLUMNS})


def add_features(cols: pd.DataFrame, meta: pd.DataFrame, dataset: str, cfg: FeatureConfig,
                 waveform: pd.DataFrame | None = None) -> pd.DataFrame:
    """Append the :data:`FEATURE_COLUMNS` to one dataset's manifest rows (aligned with ``meta``)."""
    out = cols.copy()
    out["ts_minus_tp_s"] = ts_minus_tp(cols["p_sample"], cols["s_sample"], cols["sampling_rate"])
    wf = waveform if waveform is not None else empty_waveform_features(len(cols))
    for c in WAVEFORM_COLUMNS:
        out[c] = wf[c].to_numpy(dtype=float)
    out["tectonic_regime"] = tectonic_regime(meta, dataset, cfg)
    return out


def missing_feature_columns(df: pd.DataFrame) -> pd.DataFrame:
    """A manifest written before the feature columns existed, with them added (NaN / ``""``)."""
    for c in FEATURE_COLUMNS:
        if c not in df.columns:
            df[c] = "" if c == "tectonic_regime" else np.nan
    return df


def feature_counts(df: pd.DataFrame, enabled: bool) -> dict:
    """For the manifest report: per feature column, rows with a value and rows ``unknown``."""
    out: dict = {"waveform_features_computed": bool(enabled)}
    for c in FEATURE_COLUMNS:
        known = (df[c] != "") if c == "tectonic_regime" else df[c].notna()
        out[c] = {"known": int(known.sum()), "unknown": int((~known).sum())}
    return out
