"""Window-level adaptation tasks: event/noise detection and magnitude regression.

Both run through the training loop of ``seisforge train`` (:class:`~seisforge.train.loop.LoopHooks`
``task``) with the picking pipeline's windows (same datasets, splits, windowing around picks with
``augment.pick_window_prob``, augmentations and normalisation); only the target, the loss and the dev
metrics differ:

``detection``
    Target: 1 when the final window contains a labelled P or S arrival (an arrival sample column of the
    window's metadata, which SeisBench's windowing shifts with the window, lies in ``[0, n)``), else 0.
    Noise traces give 0; a window of an event trace that misses every arrival also gives 0 (it holds no
    onset). Loss: cross-entropy on the head's (event, noise) logits. Dev metrics: ``dev_auc`` (ROC AUC,
    scikit-learn) and ``dev_f1`` at the F1-best threshold on dev (``dev_threshold``, on P(event)).
``magnitude``
    Target: the trace's ``source_magnitude``. Traces without a finite magnitude (noise, or datasets
    without magnitudes) are dropped from both splits and counted; when a split keeps none the run stops
    with a :class:`~seisforge.errors.DataError` naming the datasets. Windows that contain no arrival of
    the event (``pick_window_prob`` < 1) get a NaN target and are left out of the loss and the metrics.
    Loss: mean squared error of the standardised magnitude (train mean and standard deviation, which
    also start the head). The model sees demeaned windows and normalises them itself, giving the head
    the log amplitudes (``EncoderTaskModel(amplitude_features=...)``), because magnitude lives in the
    amplitude a normalised window has lost. Dev metrics: ``dev_mag_mae``, ``dev_mag_rmse``, ``dev_mag_bias``.

Model selection uses dev only (``train.early_stopping_metric``, lower is better: ``dev_loss``, and
``dev_1_minus_auc`` or ``dev_mag_mae``/``dev_mag_rmse``). Test is scored once, after training, by
:func:`seisforge.bench.tasks.score_task_run` with the dev-tuned threshold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seisforge.binary_metrics import binary_prf, f1_optimal_threshold, safe_auc
from seisforge.errors import ConfigError, DataError
from seisforge.train.data import SplitData

#: metadata column regressed by the magnitude task
MAGNITUDE_COLUMN = "source_magnitude"
_LOOP_HEAD = ["epoch", "global_step", "train_loss", "dev_loss"]
_LOOP_TAIL = ["lr", "bad_traces", "elapsed_s"]


class WindowTarget:
    """SeisBench-protocol augmentation that sets ``state["y"]`` to a window-level target (see module docstring).

    Module-level and stateless, so DataLoader workers can pickle it.
    """

    def __init__(self, task: str, label_columns: dict[str, str], n_samples: int):
        self.task, self.columns, self.n = task, list(label_columns), int(n_samples)

    def has_arrival(self, meta: dict) -> bool:
        """True when an arrival sample of the window's metadata lies inside the window."""
        for col in self.columns:
            value = meta.get(col)
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value) and 0 <= value < self.n:
                return True
        return False

    def __call__(self, state_dict: dict) -> None:
        _, meta = state_dict["X"]
        event = self.has_arrival(meta)
        if self.task == "detection":
            y = 1.0 if event else 0.0
        else:
            mag = meta.get(MAGNITUDE_COLUMN)
            y = float(mag) if event and mag is not None and np.isfinite(float(mag)) else float("nan")
        state_dict["y"] = (np.asarray([y], dtype=np.float32), None)

    def __str__(self) -> str:
        return f"WindowTarget({self.task})"


def predict_windows(model, loader, device: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model outputs, targets and sample indices of every valid window of ``loader`` (eval mode, no grad)."""
    model.eval()
    preds, ys, idx = [], [], []
    with torch.inference_mode():
        for batch in loader:
            valid = batch["valid"].bool()
            if not valid.any():
                continue
            out = model(batch["X"][valid].to(device)).float().cpu()
            preds.append(out.numpy())
            ys.append(batch["y"][valid][:, 0].numpy())
            idx.append(batch["idx"][valid].numpy())
    if not preds:
        return np.zeros((0,)), np.zeros((0,)), np.zeros((0,), dtype=np.int64)
    return np.concatenate(preds), np.concatenate(ys), np.concatenate(idx)


def event_probability(logits: np.ndarray) -> np.ndarray:
    """P(event) from (event, noise) logits ``(N, 2)``."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e[:, 0] / e.sum(axis=1)


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """The threshold on ``p`` that maximises F1 on ``(y, p)`` and that F1 (the benchmark's
    :func:`~seisforge.binary_metrics.f1_optimal_threshold`). NaN, NaN when ``y`` holds no positive.
    """
    if not (y == 1).any():
        return float("nan"), float("nan")
    threshold, _, _, f1 = f1_optimal_threshold(y, p)
    return threshold, f1


def detection_scores(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """ROC AUC (NaN with one class only), and F1, precision, recall at ``threshold`` (scikit-learn)."""
    auc = safe_auc(y, p)
    if not np.isfinite(threshold):
        return {"auc": auc, "f1": float("nan"), "precision": float("nan"), "recall": float("nan")}
    precision, recall, f1 = binary_prf(y, (p >= threshold).astype(int))
    return {"auc": auc, "f1": f1, "precision": precision, "recall": recall}


def magnitude_scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and mean error (bias) over the finite targets."""
    ok = np.isfinite(y)
    if not ok.any():
        return {"mae": float("nan"), "rmse": float("nan"), "bias": float("nan"), "n": 0}
    err = pred[ok] - y[ok]
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2))),
            "bias": float(np.mean(err)), "n": int(ok.sum())}


class DetectionTask:
    """Event/noise window classification (see module docstring)."""

    name = "detection"
    labels = "EN"
    target_shape = (1,)
    metric_fields = _LOOP_HEAD + ["dev_auc", "dev_f1", "dev_threshold", "dev_1_minus_auc"] + _LOOP_TAIL
    selection_metrics = ("dev_loss", "dev_1_minus_auc")

    def __init__(self):
        self.last_dev: dict[str, float] = {}
        self.info: dict[str, Any] = {}

    def prepare(self, train: SplitData, dev: SplitData, model) -> tuple[SplitData, SplitData]:
        """Check that both splits hold noise traces (without them dev has one class and no AUC)."""
        noise = {name: int((data.events == "").sum()) for name, data in (("train", train), ("dev", dev))}
        if not all(noise.values()):
            raise DataError(f"task detection needs noise traces (traces without source_id) in train and dev, "
                            f"but the splits hold {noise}; add noise traces (seisforge data synth "
                            "--noise-traces N) or use another dataset")
        self.info = {"task": self.name, "n_train": len(train), "n_dev": len(dev), "noise_traces": noise}
        return train, dev

    def target(self, label_columns: dict[str, str], n_samples: int) -> WindowTarget:
        """The target augmentation (1: the window holds an arrival)."""
        return WindowTarget(self.name, label_columns, n_samples)

    def loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy on the (event, noise) logits."""
        return F.cross_entropy(pred, (1 - y[:, 0]).long())

    def evaluate(self, model, loader, device: str) -> dict[str, float]:
        """Dev loss, ROC AUC, and F1 at the F1-best dev threshold."""
        logits, y, _ = predict_windows(model, loader, device)
        if len(y) == 0:
            raise DataError("no dev window could be read for task detection")
        loss = float(F.cross_entropy(torch.as_tensor(logits), torch.as_tensor(1 - y).long()))
        p = event_probability(logits)
        threshold, f1 = best_f1_threshold(y, p)
        auc = detection_scores(y, p, threshold)["auc"]
        self.last_dev = {"dev_loss": loss, "dev_auc": auc, "dev_f1": f1, "dev_threshold": threshold,
                         "dev_1_minus_auc": 1 - auc if np.isfinite(auc) else float("nan")}
        return dict(self.last_dev)

    def summary(self, dev: dict[str, float]) -> str:
        """The epoch line's dev part."""
        return (f"dev_loss {dev['dev_loss']:.4f}  dev_auc {dev['dev_auc']:.3f}  dev_f1 {dev['dev_f1']:.3f} "
                f"(threshold {dev['dev_threshold']:.3f})")

    def card_fields(self) -> dict[str, Any]:
        """Model-card sections: outputs, the dev-tuned threshold and the label convention."""
        thr = self.last_dev.get("dev_threshold", float("nan"))
        thresholds = {"E": float(min(max(thr, 1e-6), 1 - 1e-6))} if np.isfinite(thr) else {}
        return {"task": self.name, "thresholds": thresholds,
                "outputs": {"classes": ["event", "noise"], "positive": "event", "output": "logits (B, 2)",
                            "threshold": "on P(event) = softmax(logits)[:, 0], F1-best on dev"},
                "label_convention": {"event": "the window contains a labelled P or S arrival"}}

    def base_extra(self) -> dict[str, Any]:
        """Additions to the stored base description (none)."""
        return {}


class MagnitudeTask:
    """Magnitude regression per window (see module docstring)."""

    name = "magnitude"
    labels = "M"
    target_shape = (1,)
    metric_fields = _LOOP_HEAD + ["dev_mag_mae", "dev_mag_rmse", "dev_mag_bias"] + _LOOP_TAIL
    selection_metrics = ("dev_loss", "dev_mag_mae", "dev_mag_rmse")

    def __init__(self):
        self.mean, self.std = 0.0, 1.0
        self.info: dict[str, Any] = {}

    def prepare(self, train: SplitData, dev: SplitData, model) -> tuple[SplitData, SplitData]:
        """Keep traces with a finite magnitude; standardise with the train mean/std, which start the head."""
        train, dropped_train = with_magnitudes(train, "train")
        dev, dropped_dev = with_magnitudes(dev, "dev")
        mags = magnitudes(train)
        self.mean = float(np.mean(mags))
        self.std = float(np.std(mags)) if np.std(mags) > 1e-3 else 1.0
        model.head.offset, model.head.scale = self.mean, self.std
        self.info = {"task": self.name, "n_train": len(train), "n_dev": len(dev),
                     "dropped_without_magnitude": {"train": dropped_train, "dev": dropped_dev},
                     "target_mean": self.mean, "target_std": self.std}
        return train, dev

    def target(self, label_columns: dict[str, str], n_samples: int) -> WindowTarget:
        """The target augmentation (the magnitude; NaN for a window without an arrival)."""
        return WindowTarget(self.name, label_columns, n_samples)

    def loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """MSE of standardised magnitudes over finite targets (0 with gradient when a batch has none)."""
        ok = torch.isfinite(y[:, 0])
        if not ok.any():
            return pred.sum() * 0.0
        return torch.mean(((pred[ok] - y[ok, 0]) / self.std) ** 2)

    def evaluate(self, model, loader, device: str) -> dict[str, float]:
        """Dev loss (standardised MSE), MAE, RMSE and bias in magnitude units."""
        pred, y, _ = predict_windows(model, loader, device)
        scores = magnitude_scores(y, pred)
        if scores["n"] == 0:
            raise DataError("no dev window with an arrival and a magnitude for task magnitude")
        return {"dev_loss": (scores["rmse"] / self.std) ** 2, "dev_mag_mae": scores["mae"],
                "dev_mag_rmse": scores["rmse"], "dev_mag_bias": scores["bias"]}

    def summary(self, dev: dict[str, float]) -> str:
        """The epoch line's dev part."""
        return f"dev_loss {dev['dev_loss']:.4f}  dev_mag_mae {dev['dev_mag_mae']:.3f}  dev_mag_rmse {dev['dev_mag_rmse']:.3f}"

    def card_fields(self) -> dict[str, Any]:
        """Model-card sections: outputs and the label convention."""
        return {"task": self.name, "thresholds": {},
                "outputs": {"targets": [MAGNITUDE_COLUMN], "units": "magnitude units of the training data",
                            "output": "magnitude (B,)", "train_mean": self.mean, "train_std": self.std,
                            "input": "demeaned windows (normalisation amp_norm none); the model divides each "
                                     "component by its scale itself and feeds log10 of the scales to the head"},
                "label_convention": {"target": MAGNITUDE_COLUMN,
                                     "windows": "windows holding a labelled P or S arrival of the event"}}

    def base_extra(self) -> dict[str, Any]:
        """The head's offset and scale (train statistics), needed to rebuild the model."""
        return {"head": {"offset": self.mean, "scale": self.std}}


def magnitudes(data: SplitData) -> np.ndarray:
    """``source_magnitude`` per trace of ``data`` (NaN where missing or not numeric)."""
    import pandas as pd

    out = []
    for part in data.parts:
        meta = part.metadata
        col = pd.to_numeric(meta[MAGNITUDE_COLUMN], errors="coerce") if MAGNITUDE_COLUMN in meta else None
        out.append(col.to_numpy(dtype=float) if col is not None else np.full(len(part), np.nan))
    return np.concatenate(out) if out else np.zeros(0)


def with_magnitudes(data: SplitData, split: str) -> tuple[SplitData, int]:
    """The traces of ``data`` with a finite magnitude and the number dropped; DataError when none is left."""
    mags = magnitudes(data)
    ok = np.isfinite(mags)
    if not ok.any():
        names = sorted({str(p.metadata["trace_dataset"].iloc[0]) if "trace_dataset" in p.metadata else "?"
                        for p in data.parts})
        raise DataError(f"task magnitude needs event magnitudes (metadata column {MAGNITUDE_COLUMN}), but the "
                        f"{split} split of dataset(s) {', '.join(names) or '(none)'} has none ({len(data)} traces); "
                        "this dataset cannot be used for magnitude regression - skip the task for it "
                        "(seisforge data synth data carry magnitudes)")
    return data.select(ok), int((~ok).sum())


def make_task(name: str) -> DetectionTask | MagnitudeTask:
    """The task object of ``name`` (``detection`` or ``magnitude``)."""
    if name == "detection":
        return DetectionTask()
    if name == "magnitude":
        return MagnitudeTask()
    raise ConfigError(f"task {name!r} is not a window-level task (detection, magnitude)")
