"""Picking benchmark metrics: pick-benchmark's definitions plus clearly named audit extras.

Every threshold is chosen on **dev** predictions and then applied unchanged to **test**. See
``docs/metrics.md`` for the exact definitions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import matthews_corrcoef

from seisforge.binary_metrics import binary_prf, f1_optimal_threshold, safe_auc
from seisforge.data.bins import BENCH_BINS

PICK_TOLERANCE_S = 0.5
OUTLIER_THRESHOLDS_S = (0.45, 1.0, 1.5)
PHASES = ("P", "S")
NAN = float("nan")


def mcc_threshold(labels: np.ndarray, scores: np.ndarray, n_candidates: int = 50) -> tuple[float, float]:
    """pick-benchmark's approximate MCC-optimal threshold from 50 quantile candidates: ``(thr, mcc)``."""
    cands = np.sort(scores)
    cands = cands[np.linspace(0, len(cands) - 1, n_candidates, dtype=int)]
    mccs = [matthews_corrcoef(labels, scores > t) for t in cands]
    k = int(np.argmax(mccs))
    return float(cands[k]), float(mccs[k])


def residual_stats(residual_s: np.ndarray) -> dict[str, float]:
    """pick-benchmark's residual statistics: mean, RMS (named ``std``) and MAE, in seconds."""
    if len(residual_s) == 0:
        return {"mean_s": NAN, "std_s": NAN, "mae_s": NAN}
    return {
        "mean_s": float(np.mean(residual_s)),
        "std_s": float(np.sqrt(np.mean(residual_s**2))),
        "mae_s": float(np.mean(np.abs(residual_s))),
    }


def pick_outcome(prob: np.ndarray, residual_s: np.ndarray, thr: float, tol: float = PICK_TOLERANCE_S):
    """Per window: detected (``prob >= thr``) and correct (detected and ``|residual| <= tol``)."""
    detected = prob >= thr
    correct = detected & (np.abs(residual_s) <= tol)
    return detected, correct


def pick_threshold(
    prob: np.ndarray, residual_s: np.ndarray, noise_prob: np.ndarray, tol: float = PICK_TOLERANCE_S
) -> float:
    """Dev-tuned pick threshold maximising pick F1.

    TP: arrival windows with ``prob >= thr`` and ``|residual| <= tol``; FP: detected arrival windows
    outside the tolerance plus noise windows with ``prob >= thr``; FN: arrival windows that are not TP.
    The lowest threshold attaining the maximum F1 is returned.
    """
    cands = np.unique(np.concatenate([prob, noise_prob]))
    cands = cands[np.isfinite(cands)]
    if len(cands) == 0 or len(prob) == 0:
        return NAN
    order = np.argsort(prob)
    p_sorted, ok_sorted = prob[order], (np.abs(residual_s[order]) <= tol)
    n_sorted = np.sort(noise_prob)
    # counts of windows with prob >= c, vectorised over candidates
    idx = np.searchsorted(p_sorted, cands, side="left")
    good_cum = np.concatenate([np.cumsum(ok_sorted[::-1])[::-1], [0]])
    tp = good_cum[idx]
    det = len(prob) - idx
    fp = (det - tp) + (len(n_sorted) - np.searchsorted(n_sorted, cands, side="left"))
    fn = len(prob) - tp
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return float(cands[int(np.argmax(f1))])


def pick_residuals(df: pd.DataFrame, phase: str) -> np.ndarray:
    """Predicted minus labelled ``phase`` onset (s) per task-2/3 window (``{p,s}_sample_pred`` columns)."""
    col = f"{phase.lower()}_sample_pred"
    return ((df[col] - df["phase_onset"]) / df["sampling_rate"]).to_numpy(dtype=float)


def phase_probabilities(df: pd.DataFrame, phase: str) -> np.ndarray:
    """Peak ``phase`` probability per window (``{p,s}_prob``; NaN when the column is absent)."""
    col = f"{phase.lower()}_prob"
    return df[col].to_numpy(dtype=float) if col in df else np.full(len(df), NAN)


def has_probabilities(df: pd.DataFrame, phase: str) -> bool:
    """Whether ``df`` has at least one finite ``{p,s}_prob`` value (pick-benchmark's files have none)."""
    return bool(np.isfinite(phase_probabilities(df, phase)).any())


def task1_metrics(dev: pd.DataFrame | None, test: pd.DataFrame | None, reasons: dict) -> dict:
    """Detection: dev F1-optimal threshold, test AUC/P/R/F1 (pick-benchmark keys)."""
    out: dict = {}
    if dev is None or test is None or dev.empty or test.empty:
        reasons["task1"] = "dev_task1.csv or test_task1.csv missing or empty"
        return out
    yd = (dev["trace_type"] == "earthquake").to_numpy()
    yt = (test["trace_type"] == "earthquake").to_numpy()
    out["dev_det_auc"] = safe_auc(yd, dev["score_detection"].to_numpy())
    out["test_det_auc"] = safe_auc(yt, test["score_detection"].to_numpy())
    if np.isnan(out["test_det_auc"]):
        reasons["test_det_auc"] = f"test task1 has a single class ({_classes(yt)}); AUC undefined"
    if len(np.unique(yd)) < 2:
        why = f"dev task1 has a single class ({_classes(yd)}); no threshold can be tuned"
        for k in ("det_threshold", "dev_det_precision", "dev_det_recall", "dev_det_f1", "test_det_precision",
                  "test_det_recall", "test_det_f1"):
            out[k] = NAN
            reasons[k] = why
        return out
    thr, p, r, f = f1_optimal_threshold(yd, dev["score_detection"].to_numpy())
    out.update({"dev_det_precision": p, "dev_det_recall": r, "dev_det_f1": f, "det_threshold": thr})
    p, r, f = binary_prf(yt, test["score_detection"].to_numpy() > thr)
    out.update({"test_det_precision": p, "test_det_recall": r, "test_det_f1": f})
    return out


def _classes(y: np.ndarray) -> str:
    return ",".join(sorted({"earthquake" if v else "noise" for v in y})) or "none"


def task2_metrics(dev: pd.DataFrame, test: pd.DataFrame, reasons: dict) -> dict:
    """Phase identification: dev thresholds (F1-optimal and MCC-optimal), test MCC and P/R/F1."""
    out: dict = {}
    yd = (dev["phase_label"] == "P").to_numpy()
    yt = (test["phase_label"] == "P").to_numpy()
    sd = np.clip(dev["score_p_or_s"].to_numpy(dtype=float), -1e100, 1e100)
    st = np.clip(test["score_p_or_s"].to_numpy(dtype=float), -1e100, 1e100)
    if len(np.unique(yd)) < 2 or len(np.unique(yt)) < 2:
        reasons["task2"] = "dev or test task23 holds only one phase; MCC and P/S precision undefined"
        for k in ("phase_threshold", "phase_threshold_mcc", "test_phase_mcc", "test_phase_precision",
                  "test_phase_recall", "test_phase_f1"):
            out[k] = NAN
        return out
    thr, p, r, f = f1_optimal_threshold(yd, sd)
    mthr, mcc = mcc_threshold(yd, sd)
    out.update({"dev_phase_precision": p, "dev_phase_recall": r, "dev_phase_f1": f, "phase_threshold": thr,
                "dev_phase_mcc": mcc, "phase_threshold_mcc": mthr})
    p, r, f = binary_prf(yt, st > thr)
    out.update({"test_phase_precision": p, "test_phase_recall": r, "test_phase_f1": f,
                "test_phase_mcc": float(matthews_corrcoef(yt, st > mthr))})
    return out


def task3_metrics(
    dev: pd.DataFrame, test: pd.DataFrame, dev_noise: pd.DataFrame | None, test_noise: pd.DataFrame | None,
    reasons: dict,
) -> tuple[dict, dict]:
    """Onset residuals per phase: pick-benchmark's unconditional stats plus audit extras.

    Returns the metrics and the per-phase thresholds used.
    """
    out: dict = {}
    thresholds: dict = {}
    for phase in PHASES:
        d = dev[dev["phase_label"] == phase]
        t = test[test["phase_label"] == phase]
        for name, df in (("dev", d), ("test", t)):
            for k, v in residual_stats(pick_residuals(df, phase)).items():
                out[f"{name}_{phase}_{k}"] = v
        if d.empty or t.empty:
            reasons[f"{phase}_pick_threshold"] = f"no {phase} windows in dev or test"
            continue
        noise_d = phase_probabilities(dev_noise, phase) if dev_noise is not None else np.array([])
        noise_t = phase_probabilities(test_noise, phase) if test_noise is not None else np.array([])
        missing = [name for name, df in (("dev", d), ("test", t)) if not has_probabilities(df, phase)]
        thr = NAN if missing else pick_threshold(phase_probabilities(d, phase), pick_residuals(d, phase), noise_d)
        if np.isfinite(thr):
            thresholds[phase] = thr
        out[f"{phase}_pick_threshold"] = thr
        stats = pick_stats(phase_probabilities(t, phase), pick_residuals(t, phase), noise_t, thr, f"test_{phase}")
        out.update(stats)
        if missing:
            why = (f"no {phase.lower()}_prob values in the {'/'.join(missing)} task23 predictions (pick-benchmark "
                   f"format has none): the {phase} pick threshold and the pick extras that need it are undefined")
            for k in [f"{phase}_pick_threshold"] + [k for k, v in stats.items() if not np.isfinite(v)]:
                reasons[k] = why
        elif len(noise_t) == 0:
            reasons[f"test_{phase}_noise_fp_rate"] = "no noise windows in test task1"
    return out, thresholds


def pick_stats(prob: np.ndarray, res: np.ndarray, noise_prob: np.ndarray, thr: float, prefix: str) -> dict:
    """Pick metrics at threshold ``thr``, keys prefixed with ``prefix``.

    Recall (correct picks over arrival windows), the fraction detected, pick precision and the noise
    false-positive rate (when ``noise_prob`` is not empty), and residual statistics and outlier
    fractions both conditional on detection (``cond_``) and over all windows.
    """
    if not np.isfinite(thr):  # no threshold (no probabilities): nothing that needs one is defined
        out = {f"{prefix}_{k}": NAN for k in ("recall", "detected_frac", "pick_precision", "noise_fp_rate",
                                              "cond_mae_s", "cond_rms_s", "cond_mean_s")}
        for x in OUTLIER_THRESHOLDS_S:
            out[f"{prefix}_cond_outlier_frac_{x:g}s"] = NAN
            out[f"{prefix}_outlier_frac_{x:g}s"] = float(np.mean(np.abs(res) > x)) if len(res) else NAN
        return out
    detected, correct = pick_outcome(prob, res, thr)
    n_noise_fp = int(np.sum(noise_prob >= thr)) if len(noise_prob) else 0
    tp = int(correct.sum())
    fp = int(detected.sum()) - tp + n_noise_fp
    out = {
        f"{prefix}_recall": tp / len(prob) if len(prob) else NAN,
        f"{prefix}_detected_frac": float(detected.mean()) if len(prob) else NAN,
        f"{prefix}_pick_precision": tp / (tp + fp) if tp + fp else NAN,
        f"{prefix}_noise_fp_rate": n_noise_fp / len(noise_prob) if len(noise_prob) else NAN,
    }
    cond = residual_stats(res[detected])
    out[f"{prefix}_cond_mae_s"] = cond["mae_s"]
    out[f"{prefix}_cond_rms_s"] = cond["std_s"]
    out[f"{prefix}_cond_mean_s"] = cond["mean_s"]
    for x in OUTLIER_THRESHOLDS_S:
        out[f"{prefix}_cond_outlier_frac_{x:g}s"] = (
            float(np.mean(np.abs(res[detected]) > x)) if detected.any() else NAN
        )
        out[f"{prefix}_outlier_frac_{x:g}s"] = float(np.mean(np.abs(res) > x)) if len(res) else NAN
    return out


# --------------------------------------------------------------------------- bins


def binning(df: pd.DataFrame) -> dict[str, pd.Series]:
    """The per-bin groupings: distance, magnitude, SNR (bins of :mod:`seisforge.data.bins`) and dataset."""
    columns = {"distance": "distance_km", "magnitude": "magnitude", "snr": "snr_db"}
    out = {by: pd.Series(bins.label(df.get(columns[by], pd.Series(np.nan, index=df.index))), index=df.index,
                         dtype=object)
           for by, bins in BENCH_BINS.items()}
    out["dataset"] = df.get("dataset", pd.Series("unknown", index=df.index)).fillna("unknown").astype(str)
    return out
