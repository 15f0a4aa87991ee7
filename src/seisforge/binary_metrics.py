"""Binary-classification scores shared by the picking benchmark and the adaptation tasks.

They live in the base layer because both ``bench`` (pick-benchmark's detection and phase scores) and
``train`` (the detection task's dev selection) use them, and ``train`` may not import ``bench``. They are
thin, named wrappers of scikit-learn, so that every caller applies the same tie and empty-class rules.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, precision_recall_fscore_support, roc_auc_score

NAN = float("nan")


def f1_optimal_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float, float, float]:
    """pick-benchmark's F1-optimal threshold: ``(threshold, precision, recall, f1)`` on the given data."""
    prec, rec, thr = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * prec * rec / (prec + rec)
    i = int(np.nanargmax(f1[:-1])) if len(thr) else 0
    return float(thr[i]), float(prec[i]), float(rec[i]), float(f1[i])


def binary_prf(labels: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall, F1 (sklearn, ``zero_division=0``)."""
    p, r, f, _ = precision_recall_fscore_support(labels, predicted, average="binary", zero_division=0)
    return float(p), float(r), float(f)


def safe_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC, NaN when only one class is present."""
    if len(np.unique(labels)) < 2:
        return NAN
    return float(roc_auc_score(labels, scores))
