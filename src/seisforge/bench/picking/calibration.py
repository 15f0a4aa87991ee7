"""Calibration of pick and detection probabilities: measure it, fit a post-hoc map on dev, apply it.

What is calibrated (definitions in ``docs/metrics.md``):

- **phase X** (``P``, ``S``): the peak probability ``x_prob`` of every task-2/3 window of phase X, whose
  outcome is *correct* when the argmax pick is within the pick tolerance of the labelled onset (the pick
  recall definition), plus the ``x_prob`` of every task-1 **noise** window, whose outcome is 0;
- **detection**: ``score_detection`` of every task-1 window, correct when the window is an earthquake.

Metrics: the expected calibration error over **equal-mass** bins (:data:`N_BINS` bins of equal count
after sorting by probability; ``ECE = sum_b n_b / N * |mean(p_b) - mean(y_b)|``) and the Brier score
``mean((p - y)^2)``, with event-bootstrap CIs (:func:`seisforge.bench.stats.cluster_bootstrap`).

Post-hoc maps (fitted on **dev** only, stored in the model card's ``calibration`` field):

- ``temperature`` (the default): ``p' = sigmoid(logit(p) / T)`` per phase, one parameter ``T > 0`` fitted
  by minimising the log-loss. It scales the phase's one-vs-rest output logit. The map is strictly
  increasing, so it keeps every ranking, every argmax in time, and maps thresholds one to one.
- ``isotonic``: scikit-learn's ``IsotonicRegression`` on the peak probabilities (non-decreasing,
  piecewise linear between its knots, clipped outside them). More flexible, but it needs many dev
  windows and merges probabilities into ties.

Softmax temperature over the (P, S, noise) logits is *not* used: the P probability it gives is not a
monotone function of the uncalibrated P probability (it depends on the other classes' logits), so it
could change which windows are picked and where the argmax lies.

Both maps are continuous and non-decreasing, so ``f(p) >= t`` exactly when ``p >= f^-1(t)`` with
:func:`inverse_threshold`: picking on calibrated probabilities at ``t`` gives the same triggers as
picking on raw probabilities at ``f^-1(t)``. ``seisforge pick --calibrated`` uses that.

The fitting (temperature by a bounded scalar minimisation of the log-loss, SciPy; isotonic by
scikit-learn) and the ECE are small enough that no library version is used for the ECE: scikit-learn's
``calibration_curve`` has no equal-mass ECE and no weights per bin.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.bench.picking import metrics as M
from seisforge.bench.stats import cluster_bootstrap, clusters_of
from seisforge.errors import DataError

N_BINS = 10
METHODS = ("temperature", "isotonic")
TARGETS = ("P", "S", "detection")
EPS = 1e-6
NAN = float("nan")
#: prediction columns holding each target's probability
PROB_COLUMNS = {"P": "p_prob", "S": "s_prob", "detection": "score_detection"}


# --------------------------------------------------------------------------- metrics


def equal_mass_bins(prob: np.ndarray, n_bins: int = N_BINS) -> list[np.ndarray]:
    """Row indices of ``n_bins`` equal-count bins after a stable sort by probability (fewer if fewer rows)."""
    order = np.argsort(prob, kind="stable")
    return [b for b in np.array_split(order, min(n_bins, len(prob))) if len(b)]


def ece(prob: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> float:
    """Expected calibration error over equal-mass bins; NaN without rows."""
    prob, correct = np.asarray(prob, float), np.asarray(correct, float)
    if len(prob) == 0:
        return NAN
    return float(sum(len(b) / len(prob) * abs(prob[b].mean() - correct[b].mean())
                     for b in equal_mass_bins(prob, n_bins)))


def brier(prob: np.ndarray, correct: np.ndarray) -> float:
    """Brier score ``mean((p - y)^2)``; NaN without rows."""
    prob, correct = np.asarray(prob, float), np.asarray(correct, float)
    return float(np.mean((prob - correct) ** 2)) if len(prob) else NAN


def reliability(prob: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> list[dict]:
    """Reliability-diagram points: per equal-mass bin its mean probability, observed fraction correct, count."""
    prob, correct = np.asarray(prob, float), np.asarray(correct, float)
    return [{"bin": i, "n": int(len(b)), "p_low": float(prob[b].min()), "p_high": float(prob[b].max()),
             "mean_prob": float(prob[b].mean()), "frac_correct": float(correct[b].mean())}
            for i, b in enumerate(equal_mass_bins(prob, n_bins))]


# --------------------------------------------------------------------------- outcomes from predictions


def outcomes(task1: pd.DataFrame | None, task23: pd.DataFrame | None, target: str,
             tol: float = M.PICK_TOLERANCE_S) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(prob, correct, cluster)`` of one target (``P``, ``S`` or ``detection``) in one split's predictions."""
    parts = []
    if target == "detection":
        if task1 is not None and not task1.empty:
            parts.append((task1["score_detection"].to_numpy(float),
                          (task1["trace_type"] == "earthquake").to_numpy(), clusters_of(task1)))
    else:
        if task23 is not None and not task23.empty:
            d = task23[task23["phase_label"] == target]
            if len(d):
                ok = np.abs(M.pick_residuals(d, target)) <= tol
                parts.append((M.phase_probabilities(d, target), ok, clusters_of(d)))
        if task1 is not None and not task1.empty:
            noise = task1[task1["trace_type"] == "noise"]
            if len(noise):
                parts.append((M.phase_probabilities(noise, target), np.zeros(len(noise), bool), clusters_of(noise)))
    if not parts:
        return np.array([]), np.array([], bool), np.array([], object)
    prob, correct, cl = (np.concatenate(x) for x in zip(*parts))
    keep = np.isfinite(prob)
    return prob[keep], correct[keep].astype(bool), cl[keep]


def noise_window_sources(task1: pd.DataFrame | None) -> dict[str, int]:
    """Task-1 noise windows per ``window_source`` (``bench targets --noise-after-events``); windows of
    targets without that column (pick-benchmark's rules) are counted as ``unrecorded``."""
    if task1 is None or task1.empty:
        return {}
    noise = task1[task1["trace_type"] == "noise"]
    if "window_source" not in noise:
        return {"unrecorded": int(len(noise))} if len(noise) else {}
    return {str(k): int(v) for k, v in noise["window_source"].fillna("unrecorded").value_counts().sort_index().items()}


def calibration_metrics(task1: pd.DataFrame | None, task23: pd.DataFrame | None, prefix: str = "test",
                        n_boot: int = 1000, seed: int = 0, n_bins: int = N_BINS) -> tuple[dict, dict, dict, dict]:
    """ECE and Brier per target with event-bootstrap CIs, and the reliability diagrams.

    Returns ``(metrics, ci95, reasons, section)``: metric keys ``{prefix}_{P,S,det}_{ece,brier}``, their CIs,
    reasons for NaN values, and ``section`` for ``metrics.json["calibration"]`` (bins, counts,
    reliability points).
    """
    met, ci, reasons = {}, {}, {}
    section: dict = {"n_bins": n_bins, "binning": "equal-mass", "tolerance_s": M.PICK_TOLERANCE_S,
                     "n": {}, "n_correct": {}, "noise_windows": noise_window_sources(task1), "reliability": {}}
    for target in TARGETS:
        key = "det" if target == "detection" else target
        prob, ok, cl = outcomes(task1, task23, target)
        names = (f"{prefix}_{key}_ece", f"{prefix}_{key}_brier")
        section["n"][key], section["n_correct"][key] = int(len(prob)), int(ok.sum())
        if len(prob) == 0:
            for k in names:
                met[k] = NAN
                reasons[k] = f"no {target} windows with a probability in {prefix}"
            continue

        def stat(idx, prob=prob, ok=ok, names=names):
            return {names[0]: ece(prob[idx], ok[idx], n_bins), names[1]: brier(prob[idx], ok[idx])}

        met.update(stat(np.arange(len(prob))))
        ci.update({k: list(v) for k, v in cluster_bootstrap(cl, stat, n_boot, seed).items()})
        section["reliability"][key] = reliability(prob, ok, n_bins)
    return met, ci, reasons, section


# --------------------------------------------------------------------------- maps


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(z, float)))


def fit_temperature(prob: np.ndarray, correct: np.ndarray) -> dict:
    """Temperature ``T`` minimising the log-loss of ``sigmoid(logit(p) / T)``; bounded to [0.05, 20]."""
    from scipy.optimize import minimize_scalar

    z, y = _logit(prob), np.asarray(correct, float)

    def nll(log_t: float) -> float:
        q = np.clip(_sigmoid(z / np.exp(log_t)), EPS, 1 - EPS)
        return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return {"temperature": float(np.exp(res.x))}


def fit_isotonic(prob: np.ndarray, correct: np.ndarray) -> dict:
    """scikit-learn isotonic regression; the knots ``x`` (raw) and ``y`` (calibrated)."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(prob, np.asarray(correct, float))
    return {"x": [float(v) for v in iso.X_thresholds_], "y": [float(v) for v in iso.y_thresholds_]}


def apply_map(prob: np.ndarray, method: str, params: dict) -> np.ndarray:
    """Calibrated probabilities (any shape; NaN stays NaN)."""
    prob = np.asarray(prob, float)
    if method == "temperature":
        out = _sigmoid(_logit(prob) / float(params["temperature"]))
    elif method == "isotonic":
        out = np.interp(prob, params["x"], params["y"])
    else:
        raise DataError(f"unknown calibration method {method!r}; known: {METHODS}")
    return np.where(np.isnan(prob), np.nan, out)


def inverse_threshold(threshold: float, method: str, params: dict) -> float:
    """The raw threshold ``r`` with ``{p: f(p) >= threshold} == {p: p >= r}`` (``inf`` when none, 0 when all)."""
    if method == "temperature":
        if threshold <= 0:
            return 0.0
        if threshold >= 1:
            return float("inf")
        return float(_sigmoid(_logit(threshold) * float(params["temperature"])))
    x, y = np.asarray(params["x"], float), np.asarray(params["y"], float)
    if threshold <= y[0]:
        return 0.0
    if threshold > y[-1]:
        return float("inf")
    i = int(np.argmax(y >= threshold))  # first knot reaching the threshold; y[i-1] < threshold
    return float(x[i - 1] + (threshold - y[i - 1]) / (y[i] - y[i - 1]) * (x[i] - x[i - 1]))


# --------------------------------------------------------------------------- fitting on dev, storing, applying


def _read_split(pred_dir: Path, split: str) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    frames = []
    for task in ("task1", "task23"):
        p = pred_dir / f"{split}_{task}.csv"
        frames.append(pd.read_csv(p, dtype={"source_id": str, "trace_chunk": str}) if p.is_file() else None)
    return frames[0], frames[1]


def fit_calibration(pred_dir: str | Path, method: str = "temperature", n_bins: int = N_BINS) -> dict:
    """Fit one map per target on the **dev** predictions of ``pred_dir``; the model card's ``calibration``.

    Targets without dev windows of both outcomes get no map (listed in ``not_fitted`` with the reason).
    """
    if method not in METHODS:
        raise DataError(f"unknown calibration method {method!r}; known: {METHODS}")
    pred_dir = Path(pred_dir)
    d1, d23 = _read_split(pred_dir, "dev")
    if d1 is None and d23 is None:
        raise DataError(f"{pred_dir}: no dev_task1.csv / dev_task23.csv to fit a calibration on")
    report_path = pred_dir / "run_report.json"
    notes = json.loads(report_path.read_text()).get("notes", {}) if report_path.is_file() else {}
    if notes.get("calibrated"):
        raise DataError(f"{pred_dir} holds calibrated predictions; fit on uncalibrated ones")
    fit = fit_temperature if method == "temperature" else fit_isotonic
    maps, not_fitted, dev = {}, {}, {}
    for target in TARGETS:
        prob, ok, _ = outcomes(d1, d23, target)
        if len(np.unique(ok)) < 2:
            not_fitted[target] = f"dev has {len(prob)} {target} windows with a single outcome"
            continue
        maps[target] = fit(prob, ok)
        cal = apply_map(prob, method, maps[target])
        dev[target] = {"n": int(len(prob)), "ece_before": ece(prob, ok, n_bins), "ece_after": ece(cal, ok, n_bins),
                       "brier_before": brier(prob, ok), "brier_after": brier(cal, ok)}
    return {"method": method, "fitted_on": "dev", "pred_dir": str(pred_dir), "model": notes.get("model"),
            "model_version": notes.get("model_version"), "tolerance_s": M.PICK_TOLERANCE_S, "n_bins": n_bins,
            "maps": maps, "not_fitted": not_fitted, "dev": dev, "dev_noise_windows": noise_window_sources(d1)}


def calibrate_outputs(outputs: dict[str, np.ndarray], calibration: dict) -> dict[str, np.ndarray]:
    """Apply a stored calibration to window outputs (``p_prob``, ``s_prob``, ``score_detection``).

    Onset columns are left as they are (the maps are monotone, so the argmax in time is unchanged), and
    ``score_p_or_s`` is recomputed from the calibrated peaks.
    """
    out = dict(outputs)
    for target, params in calibration.get("maps", {}).items():
        col = PROB_COLUMNS[target]
        if col in out:
            out[col] = apply_map(out[col], calibration["method"], params)
    if "P" in calibration.get("maps", {}) or "S" in calibration.get("maps", {}):
        with np.errstate(divide="ignore", invalid="ignore"):
            out["score_p_or_s"] = np.where(out["s_prob"] > 0, out["p_prob"] / out["s_prob"], np.inf)
    return out


def calibrated_thresholds(calibration: dict, raw: dict[str, float]) -> dict[str, float]:
    """Map raw per-phase thresholds onto the calibrated scale (phases without a map are left out)."""
    out = {}
    for ph, thr in raw.items():
        params = calibration.get("maps", {}).get(ph)
        if params is not None and thr is not None and np.isfinite(thr):
            v = float(apply_map(np.array([thr]), calibration["method"], params)[0])
            if 0 < v < 1:
                out[ph] = v
    return out


def raw_thresholds(calibration: dict, calibrated: dict[str, float]) -> dict[str, float]:
    """Per-phase thresholds on the calibrated scale mapped to the raw scale (:func:`inverse_threshold`)."""
    out = dict(calibrated)
    for ph, thr in calibrated.items():
        params = calibration.get("maps", {}).get(ph)
        if params is not None and thr is not None:
            out[ph] = inverse_threshold(float(thr), calibration["method"], params)
    return out


# --------------------------------------------------------------------------- model cards


def default_card_path(model_spec: str | None, weights: str | None = None) -> Path | None:
    """Where a model's card lives by default: ``RUN_DIR/model_card.json`` for ``run:RUN_DIR``, else
    ``model_card.json`` beside the weight pair (``--weights``); None when neither applies."""
    from seisforge.models.card import CARD_FILE

    spec = model_spec or ""
    if spec.startswith("run:"):
        return Path(spec[4:]) / CARD_FILE
    if weights:
        w = Path(weights)
        return (w if w.is_dir() else w.parent) / CARD_FILE
    return None


def card_calibration(card: str | Path | None, model_spec: str | None = None, weights: str | None = None) -> dict:
    """The ``calibration`` of a model card (``card``, else the :func:`default_card_path`).

    Raises :class:`DataError` when there is no card or it holds no calibration.
    """
    from seisforge.models.card import read_card

    path = Path(card) if card else default_card_path(model_spec, weights)
    if path is None:
        raise DataError("--calibrated: give the model card (CARD_OR_DIR); this model has no default card location")
    cal = read_card(path).calibration
    if not cal or not cal.get("maps"):
        raise DataError(f"{path}: the model card holds no calibration; fit one with `seisforge bench calibrate`")
    return cal


def store_calibration(calibration: dict, out: str | Path, weights: str | None = None) -> Path:
    """Write ``calibration`` into the model card at ``out`` (a card file or a folder) and return its path.

    An existing card is updated; otherwise the card is made from the predicted model
    (:func:`~seisforge.models.card.card_from_seisbench`). The card's pick thresholds are set to the
    dev-tuned pick thresholds of the prediction folder's ``metrics.json`` (when scored) mapped onto the
    calibrated scale, else to its former thresholds mapped the same way.
    """
    from seisforge.models.card import CARD_FILE, ModelCard, card_from_seisbench, read_card, write_card

    out = Path(out)
    path = out / CARD_FILE if (out.is_dir() or not out.suffix) else out
    if path.is_file():
        card = read_card(path)
    else:
        from seisforge.models.registry import load_model

        loaded = load_model(calibration["model"], weights=weights)
        if not hasattr(loaded.model, "in_samples") or hasattr(loaded.model, "window_outputs"):
            raise DataError(f"{calibration['model']}: no model card can be made for this model; give an existing card")
        card = card_from_seisbench(loaded.model, training={"source": loaded.source})
    raw = dict(card.thresholds)
    metrics_path = Path(calibration["pred_dir"]) / "metrics.json"
    if metrics_path.is_file():
        thr = json.loads(metrics_path.read_text()).get("thresholds", {})
        raw.update({ph: thr[f"{ph}_pick_threshold"] for ph in M.PHASES if thr.get(f"{ph}_pick_threshold")})
    data = card.to_dict()
    data["thresholds"] = {**{k: v for k, v in card.thresholds.items() if k not in calibration["maps"]},
                          **calibrated_thresholds(calibration, raw)}
    data["calibration"] = calibration
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_card(ModelCard(**data), path)


def calibrated_pick_thresholds(card: str | None, model_spec: str, weights: str | None,
                               given: dict[str, float | None]) -> tuple[dict, dict, dict]:
    """Raw trigger thresholds for ``seisforge pick --calibrated``.

    ``given`` holds the user's per-phase thresholds on the calibrated scale (None: the card's). Returns
    ``(raw, calibrated, calibration)``: triggering the raw curves at ``raw`` gives exactly the triggers
    of the calibrated curves at ``calibrated`` (monotone maps, :func:`inverse_threshold`).
    """
    from seisforge.models.card import read_card

    path = Path(card) if card else default_card_path(model_spec, weights)
    cal = card_calibration(path)
    card_thr = read_card(path).thresholds
    calibrated = {ph: (v if v is not None else card_thr.get(ph)) for ph, v in given.items()}
    calibrated = {ph: float(v) for ph, v in calibrated.items() if v is not None}
    return raw_thresholds(cal, calibrated), calibrated, cal
