"""Label-error detection (``seisforge data clean-labels``), in the spirit of Aguilar et al.

A picker scans every trace of a manifest (:class:`~seisforge.data.screening.TraceScreener`); its confident
arrivals (P or S probability peaks above the thresholds, at least ``tolerance_s`` apart) are compared
with **every** labelled pick of the trace (all phase columns of the metadata, second events included):

``multiplet``
    An event trace with a confident arrival farther than ``tolerance_s`` from every labelled pick, after
    the first labelled pick: there are more arrivals than labels (an unlabelled second event).
``noise_window_energy``
    Such an arrival (or an STA/LTA trigger, with ``stalta``) before the first labelled pick minus
    ``pre_p_margin_s``: the labelled noise window of an event trace holds energy.
``noise_trace_energy``
    A trace labelled noise with a confident arrival (or an STA/LTA trigger, with ``stalta``).

Arrivals within ``edge_s`` of either trace end are ignored (window-edge artefacts). Event traces without
any labelled pick cannot be judged and are counted as ``skipped_no_labelled_picks``. Flags are keyed by
``(dataset, chunk, trace_name)``, never by row index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import find_peaks

from seisforge.data.screening import TraceScreener, batched, iter_manifest_waveforms
from seisforge.data.sources import PHASE_COLUMNS

FLAG_COLUMNS = ["dataset", "chunk", "trace_name", "reason", "detector", "n_arrivals", "max_prob", "samples"]
REASONS = ("multiplet", "noise_window_energy", "noise_trace_energy")


@dataclass
class CleanLabelsConfig:
    """Detection settings (CLI options of ``clean-labels``)."""

    p_threshold: float = 0.5
    s_threshold: float = 0.5
    tolerance_s: float = 1.5
    edge_s: float = 0.5
    pre_p_margin_s: float = 0.5
    stalta: bool = False
    stalta_on: float = 8.0
    stalta_off: float = 2.0
    sta_s: float = 0.5
    lta_s: float = 10.0
    freqmin: float = 1.0
    freqmax: float = 20.0


def confident_arrivals(p: np.ndarray, s: np.ndarray, fs: float, cfg: CleanLabelsConfig) -> tuple[np.ndarray, np.ndarray]:
    """Samples and probabilities of P and S peaks above their thresholds, ``tolerance_s`` apart."""
    dist = max(int(cfg.tolerance_s * fs), 1)
    out_i, out_p = [], []
    for curve, thr in ((p, cfg.p_threshold), (s, cfg.s_threshold)):
        idx, props = find_peaks(curve, height=thr, distance=dist)
        out_i.append(idx)
        out_p.append(props["peak_heights"])
    return np.concatenate(out_i).astype(float), np.concatenate(out_p)


def stalta_triggers(wave: np.ndarray, fs: float, cfg: CleanLabelsConfig, end: int | None = None) -> np.ndarray:
    """Trigger-on samples of ObsPy's classic STA/LTA on the band-passed vertical (first) component."""
    from obspy.signal.filter import bandpass
    from obspy.signal.trigger import classic_sta_lta, trigger_onset

    x = np.asarray(wave[0] if wave.ndim > 1 else wave, dtype=np.float64)[:end]
    nsta, nlta = int(cfg.sta_s * fs), int(cfg.lta_s * fs)
    if len(x) <= nlta + nsta or not np.any(x) or not np.isfinite(x).all():
        return np.array([])
    x = bandpass(x - x.mean(), cfg.freqmin, min(cfg.freqmax, 0.45 * fs), fs, zerophase=True)
    ratio = classic_sta_lta(x, nsta, nlta)
    ratio[:nlta] = 0  # the LTA is not yet filled
    on = trigger_onset(ratio, cfg.stalta_on, cfg.stalta_off)
    return np.asarray([t[0] for t in on], dtype=float)


def labelled_picks(meta_row: dict, scale: float) -> np.ndarray:
    """Every finite labelled onset of a metadata row (all phase columns), scaled to the loaded rate."""
    vals = [meta_row.get(c) for c in PHASE_COLUMNS if c in meta_row]
    arr = np.asarray([v for v in vals if v is not None and np.isfinite(float(v))], dtype=float)
    return arr * scale


def classify(row: dict, wave: np.ndarray, meta_row: dict, curves: tuple[np.ndarray, np.ndarray], fs: float,
             cfg: CleanLabelsConfig) -> list[dict]:
    """Flags of one trace (empty when clean) from its picker ``curves`` (P, S) at rate ``fs``."""
    native = float(row["sampling_rate"]) if np.isfinite(row["sampling_rate"]) else fs
    labels = labelled_picks(meta_row, fs / native)
    n = wave.shape[-1]
    p, s = curves
    arr, prob = confident_arrivals(p, s, fs, cfg)
    edge = cfg.edge_s * fs
    inside = (arr >= edge) & (arr < n - edge)
    arr, prob = arr[inside], prob[inside]
    base = {"dataset": row["dataset"], "chunk": row["chunk"], "trace_name": row["trace_name"]}
    flags = []

    def add(reason: str, detector: str, samples: np.ndarray, probs: np.ndarray | None) -> None:
        flags.append({**base, "reason": reason, "detector": detector, "n_arrivals": int(len(samples)),
                      "max_prob": float(np.max(probs)) if probs is not None and len(probs) else np.nan,
                      "samples": ",".join(str(int(v)) for v in sorted(samples))})

    if row["category"] == "noise":
        if len(arr):
            add("noise_trace_energy", "picker", arr, prob)
        if cfg.stalta:
            trig = stalta_triggers(wave, fs, cfg)
            if len(trig):
                add("noise_trace_energy", "stalta", trig, None)
        return flags
    if not len(labels):
        return [{**base, "reason": "skipped_no_labelled_picks"}]
    far = np.min(np.abs(arr[:, None] - labels[None, :]), axis=1) > cfg.tolerance_s * fs if len(arr) else np.array([], bool)
    first = labels.min()
    quiet_end = first - cfg.pre_p_margin_s * fs
    before = far & (arr < quiet_end)
    after = far & (arr >= quiet_end)
    if after.any():
        add("multiplet", "picker", arr[after], prob[after])
    if before.any():
        add("noise_window_energy", "picker", arr[before], prob[before])
    if cfg.stalta and quiet_end > 0:
        trig = stalta_triggers(wave, fs, cfg, end=int(quiet_end))
        if len(trig):
            add("noise_window_energy", "stalta", trig, None)
    return flags


def find_label_errors(manifest: pd.DataFrame, datasets: dict, screener: TraceScreener,
                      cfg: CleanLabelsConfig) -> tuple[pd.DataFrame, dict]:
    """Scan ``manifest`` rows and return the flags and a report.

    Returns
    -------
    (DataFrame, dict)
        Flags (:data:`FLAG_COLUMNS`, one row per trace, reason and detector) and the report: per dataset
        the traces scanned, traces flagged per reason, and the removal fraction per reason and overall.
    """
    flags, skipped, missing = [], [], []
    items = iter_manifest_waveforms(manifest, datasets, desc="clean-labels", missing=missing)
    for chunk in batched(items, 32):
        curves = screener.curves_many([wave for _, wave, _ in chunk])
        for (row, wave, meta_row), c in zip(chunk, curves):
            for f in classify(row, wave, meta_row, c, screener.sampling_rate, cfg):
                (skipped if f["reason"].startswith("skipped") else flags).append(f)
    out = pd.DataFrame(flags, columns=FLAG_COLUMNS).sort_values(["dataset", "chunk", "trace_name", "reason", "detector"],
                                                                 kind="stable").reset_index(drop=True)
    scanned = manifest.groupby("dataset").size()
    per = {}
    for name, total in scanned.items():
        f = out[out["dataset"] == name]
        by_reason = f.drop_duplicates(["chunk", "trace_name", "reason"])["reason"].value_counts()
        flagged = int(len(f.drop_duplicates(["chunk", "trace_name"])))
        per[name] = {
            "scanned": int(total),
            "flagged_traces": flagged,
            "removal_fraction": round(flagged / total, 4) if total else 0.0,
            "by_reason": {r: {"traces": int(by_reason.get(r, 0)),
                              "fraction": round(int(by_reason.get(r, 0)) / total, 4) if total else 0.0}
                          for r in REASONS},
            "skipped_no_labelled_picks": sum(1 for s in skipped if s["dataset"] == name),
        }
    report = {"model": screener.name, "config": cfg.__dict__, "datasets": per,
              "flagged_traces": int(len(out.drop_duplicates(["dataset", "chunk", "trace_name"]))),
              "missing": {"count": len(missing), "examples": missing[:20]}}
    return out, report
