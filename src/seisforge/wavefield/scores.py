"""CTF scores E1-E12, equal to ``ctf4science.eval_module`` by default.

Every score is ``100 * (1 - E)`` with a relative error ``E``; predicting zeros scores exactly 0.

- :func:`short_time_score`: ``E = ||truth[:k] - pred[:k]|| / ||truth[:k]||``;
- :func:`reconstruction_score`: the same over all rows;
- :func:`long_time_score`: ``E = ||P_truth - P_pred||_2 / ||P_truth||_2`` with ``P`` the power spectrum
  over space, averaged over the last ``k`` rows, one-sided bins ``[S//2, S//2 + modes)`` after
  ``fftshift``.

``norm="spectral"`` (default) is what the official code computes: ``numpy.linalg.norm(A, ord=2)`` on a
2-D array is the largest singular value. ``norm="frobenius"`` is the element-wise L2 norm that the
paper's formula suggests. ``log_power=True`` compares ``log(PSD + 1e-10)`` (``compute_log_psd``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np

from seisforge.errors import DataError

Norm = Literal["spectral", "frobenius"]
LOG_EPS = 1e-10
FAIL_SCORE = -100.0


def _check(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(truth, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if truth.ndim != 2:
        raise DataError(f"truth must be a 2-D (time, space) matrix, got shape {truth.shape}")
    if pred.shape != truth.shape:
        raise DataError(f"prediction shape {pred.shape} does not match truth shape {truth.shape}")
    if not np.all(np.isfinite(truth)):
        raise DataError("truth contains NaN or Inf")
    return truth, pred


def matrix_norm(a: np.ndarray, norm: Norm = "spectral") -> float:
    """Spectral (largest singular value, ``ord=2``) or Frobenius norm of a 2-D array."""
    if norm == "spectral":
        return float(np.linalg.norm(a, ord=2))
    if norm == "frobenius":
        return float(np.linalg.norm(a, ord="fro"))
    raise DataError(f"unknown norm {norm!r}; use 'spectral' or 'frobenius'")


def _relative(truth: np.ndarray, pred: np.ndarray, norm: Norm, what: str) -> float:
    if not np.all(np.isfinite(pred)):
        return math.nan
    den = matrix_norm(truth, norm)
    if den == 0.0:
        raise DataError(f"{what}: truth is all zero, so the relative error is undefined")
    return matrix_norm(truth - pred, norm) / den


def short_time_score(truth: np.ndarray, pred: np.ndarray, k: int, norm: Norm = "spectral") -> float:
    """Short-time forecast score over the first ``k`` rows (NaN when ``pred`` is not finite)."""
    truth, pred = _check(truth, pred)
    if not 1 <= k <= truth.shape[0]:
        raise DataError(f"short_time: k={k} must be in [1, {truth.shape[0]}] (rows of truth)")
    return 100.0 * (1.0 - _relative(truth[:k], pred[:k], norm, "short_time"))


def reconstruction_score(truth: np.ndarray, pred: np.ndarray, norm: Norm = "spectral") -> float:
    """Reconstruction score over all rows (NaN when ``pred`` is not finite)."""
    truth, pred = _check(truth, pred)
    return 100.0 * (1.0 - _relative(truth, pred, norm, "reconstruction"))


def compute_psd(array: np.ndarray, k: int, modes: int, log_power: bool = False) -> np.ndarray:
    """Power spectrum over space averaged over the last ``k`` rows, ``modes`` one-sided bins.

    Equal to ``ctf4science.eval_module.compute_psd`` (and ``compute_log_psd`` with ``log_power``).
    """
    array = np.asarray(array, dtype=np.float64)
    rows, space = array.shape
    if not 1 <= k <= rows:
        raise DataError(f"long_time: k={k} must be in [1, {rows}] (rows)")
    center = space // 2
    if not 1 <= modes <= space - center:
        raise DataError(
            f"long_time: modes={modes} must be in [1, {space - center}] for {space} spatial points "
            "(one-sided bins [S//2, S//2+modes))"
        )
    ps = np.abs(np.fft.fft(array[rows - k :], axis=1)) ** 2
    psd = np.fft.fftshift(ps, axes=1)[:, center : center + modes].mean(axis=0)
    return np.log(psd + LOG_EPS) if log_power else psd


def long_time_score(
    truth: np.ndarray, pred: np.ndarray, k: int, modes: int, log_power: bool = False
) -> float:
    """Long-time (spectral) score on the last ``k`` rows (NaN when ``pred`` is not finite)."""
    truth, pred = _check(truth, pred)
    pt = compute_psd(truth, k, modes, log_power)
    if not np.all(np.isfinite(pred)):
        return math.nan
    pp = compute_psd(pred, k, modes, log_power)
    den = float(np.linalg.norm(pt, ord=2))
    if den == 0.0:
        raise DataError("long_time: truth power spectrum is all zero, so the relative error is undefined")
    return 100.0 * (1.0 - float(np.linalg.norm(pt - pp, ord=2)) / den)


def score_metrics(
    truth: np.ndarray,
    pred: np.ndarray,
    metrics: Iterable[str],
    k_short: int,
    k_long: int,
    modes: int,
    norm: Norm = "spectral",
    log_power: bool = False,
) -> tuple[dict[str, float], str | None]:
    """Score one pair's prediction on its metrics.

    Returns
    -------
    (scores, failure)
        ``scores`` maps metric name to score; a prediction with NaN/Inf scores :data:`FAIL_SCORE` on every
        metric and ``failure`` names the reason (``None`` otherwise). Shape errors and an all-zero truth
        raise :class:`DataError`.
    """
    truth, pred = _check(truth, pred)
    metrics = list(metrics)
    bad = int(np.size(pred) - np.count_nonzero(np.isfinite(pred)))
    if bad:
        return {m: FAIL_SCORE for m in metrics}, f"non_finite_prediction: {bad} NaN/Inf values"
    out: dict[str, float] = {}
    for m in metrics:
        if m == "short_time":
            out[m] = short_time_score(truth, pred, k_short, norm)
        elif m == "long_time":
            out[m] = long_time_score(truth, pred, k_long, modes, log_power)
        elif m == "reconstruction":
            out[m] = reconstruction_score(truth, pred, norm)
        else:
            raise DataError(f"unknown metric {m!r}; known: short_time, long_time, reconstruction")
    return out, None


def e_scores(pair_metrics: Mapping[int, Mapping[str, float]]) -> dict[str, float]:
    """Map ``{pair_id: {metric: score}}`` to ``{"E1": ..., ..., "E12": ...}``; missing entries are NaN."""
    from seisforge.wavefield.layout import PAIR_METRIC_TO_E

    out = {f"E{e}": math.nan for e in range(1, 13)}
    for (pid, metric), e in PAIR_METRIC_TO_E.items():
        value = pair_metrics.get(pid, {}).get(metric)
        if value is not None:
            out[f"E{e}"] = float(value)
    return out


def avg_score(scores: Mapping[str, float | None] | Iterable[float | None]) -> float:
    """The clipped AvgScore (a seisforge variant): mean of E1-E12 after clipping each to [-100, 100];
    NaN, None or a missing E counts as -100. See :func:`official_avg_score` for the official mean."""
    if isinstance(scores, Mapping):
        values = [scores.get(f"E{e}") for e in range(1, 13)]
    else:
        values = list(scores)
        if len(values) != 12:
            raise DataError(f"avg_score needs 12 values (E1-E12), got {len(values)}")
    clean = [
        FAIL_SCORE if v is None or not math.isfinite(float(v)) else min(100.0, max(-100.0, float(v)))
        for v in values
    ]
    return float(sum(clean) / 12.0)


def official_avg_score(scores: Mapping[str, float | None]) -> float:
    """The official AvgScore: the plain mean of E1-E12, unclipped, as ``ctf4science``'s
    ``evaluate_kaggle_csv`` computes its ``average`` (``np.mean`` of the twelve values).

    A failed pair is already scored :data:`FAIL_SCORE`; a missing E makes the mean NaN (the official
    code cannot compute it either).
    """
    values = [scores.get(f"E{e}") for e in range(1, 13)]
    if any(v is None or not math.isfinite(float(v)) for v in values):
        return math.nan
    return float(np.mean([float(v) for v in values]))
