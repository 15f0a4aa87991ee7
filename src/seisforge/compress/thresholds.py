"""Trigger thresholds of a distilled or pruned model, re-tuned on dev windows for its model card.

A student or a pruned model is not calibrated like its teacher: at the teacher's card thresholds a
distilled PhaseNetLight made twice the teacher's picks on a continuous day (agreement F1 0.31 at 0.1 s),
and a pruned one crossed them almost nowhere. ``seisforge pick`` triggers at the card's thresholds, so
they are chosen again, on dev windows only:

- ``teacher``: per phase, the threshold at which the model's dev picks agree best with the parent's dev
  picks at the parent's card thresholds (F1 with a 0.1 s tolerance, the report's agreement tolerance). No
  labels are used. It is the pick-benchmark's F1-optimal pick threshold
  (:func:`seisforge.bench.picking.metrics.pick_threshold`) with the parent's picks in place of the
  labelled arrivals: windows where the parent picks are the "arrivals" (the residual is the model's
  peak time minus the parent's), the other windows the "noise".
- ``dev-day``: per phase, the threshold at which the model's picks on a continuous dev day agree best
  with the parent's picks there (:mod:`seisforge.compress.dev_day`, the pick engine's windowing,
  stacking and triggers; F1 at 0.1 s). Dev windows are event-centred traces and a few noise traces and
  miss what a continuous day holds; the default when a dev day is given.
- ``parent``: the parent's card thresholds, unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from seisforge.compress.report import AGREEMENT_TOLERANCE_S
from seisforge.errors import ConfigError
from seisforge.models.loaded import LoadedModel

MODES = ("auto", "teacher", "dev-day", "parent")


def resolve_mode(mode: str, targets: str | Path | None, dev_day: list[str] | None = None) -> str:
    """``auto`` is ``dev-day`` with a dev day, else ``teacher`` with dev targets and ``parent`` without;
    ``teacher`` needs targets, ``dev-day`` a dev day."""
    if mode not in MODES:
        raise ConfigError(f"--thresholds must be one of {MODES}, got {mode!r}")
    if mode == "auto":
        return "dev-day" if dev_day else "teacher" if targets else "parent"
    if mode == "dev-day" and not dev_day:
        raise ConfigError("--thresholds dev-day tunes the thresholds on a continuous dev day: give --dev-day")
    if mode == "teacher" and not targets:
        raise ConfigError("--thresholds teacher tunes the thresholds on dev windows: give --dataset and --targets")
    return mode


def _peaks(loaded: LoadedModel, dev) -> dict[str, np.ndarray]:
    from seisforge.compress.int8 import run_batched
    from seisforge.models.window_picker import as_window_picker, outputs_from_probabilities

    picker = as_window_picker(loaded)
    return outputs_from_probabilities(run_batched(picker.probabilities, dev.x), dev.borders, dev.labels)


def _f1(detected: np.ndarray, agree: np.ndarray, parent_picks: np.ndarray) -> float:
    tp = int(np.sum(detected & agree & parent_picks))
    fp, fn = int(np.sum(detected)) - tp, int(np.sum(parent_picks)) - tp
    return 2 * tp / max(2 * tp + fp + fn, 1)


def teacher_thresholds(parent: LoadedModel, model: LoadedModel, parent_thresholds: dict[str, float],
                       dataset: str | Path, targets: str | Path) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-phase thresholds of ``model`` that best reproduce ``parent``'s dev picks; and what was measured.

    Returns ``(thresholds, info)``; ``info`` holds the dev agreement F1 (0.1 s) at the parent's thresholds
    and at the tuned ones, and the number of dev windows. A phase the parent never picks on dev keeps
    the parent's threshold.
    """
    from seisforge.bench.picking.metrics import pick_threshold
    from seisforge.compress.int8 import dev_set

    dev = dev_set(parent, dataset, targets)
    ref, out = _peaks(parent, dev), _peaks(model, dev)
    fs = float(model.model.sampling_rate)
    thresholds = dict(parent_thresholds)
    info: dict[str, Any] = {"dev_windows": len(dev), "tolerance_s": AGREEMENT_TOLERANCE_S}
    for phase in ("P", "S"):
        if phase not in parent_thresholds:
            continue
        key = phase.lower()
        picks = ref[f"{key}_prob"] >= parent_thresholds[phase]
        residual = (out[f"{key}_local"] - ref[f"{key}_local"]) / fs
        prob = out[f"{key}_prob"]
        thr = pick_threshold(prob[picks], residual[picks], prob[~picks], tol=AGREEMENT_TOLERANCE_S)
        if np.isfinite(thr):
            thresholds[phase] = float(np.clip(thr, 1e-3, 1 - 1e-3))  # a card threshold lies in (0, 1)
        agree = np.abs(residual) <= AGREEMENT_TOLERANCE_S
        info[f"{phase}_parent_picks"] = int(picks.sum())
        info[f"{phase}_dev_agreement_f1_parent_threshold"] = _f1(prob >= parent_thresholds[phase], agree, picks)
        info[f"{phase}_dev_agreement_f1"] = _f1(prob >= thresholds[phase], agree, picks)
    return thresholds, info


def card_thresholds(parent: LoadedModel, model: LoadedModel, parent_thresholds: dict[str, float], mode: str,
                    dataset: str | Path | None, targets: str | Path | None,
                    dev_day: list[str] | None = None) -> tuple[dict[str, float], dict]:
    """The thresholds for ``model``'s card under ``mode`` (:data:`MODES`), and a record for ``training``."""
    mode = resolve_mode(mode, targets, dev_day)
    if mode == "parent":
        return dict(parent_thresholds), {"thresholds": "parent's card thresholds"}
    if mode == "dev-day":
        from seisforge.compress.dev_day import DayAgreement

        tuned, info = DayAgreement(parent.model, list(dev_day or [])).thresholds(model.model)
        return {**parent_thresholds, **tuned}, {
            "thresholds": "tuned on a continuous dev day: agreement with the parent's picks at its card thresholds",
            "threshold_tuning": info, "parent_thresholds": dict(parent_thresholds)}
    thresholds, info = teacher_thresholds(parent, model, parent_thresholds, dataset, targets)
    return thresholds, {"thresholds": "tuned on dev: agreement with the parent's picks at its card thresholds",
                        "threshold_tuning": info, "parent_thresholds": dict(parent_thresholds)}


def store_in_weights(run_dir: str | Path, thresholds: dict[str, float]) -> None:
    """Write ``thresholds`` as the ``{phase}_threshold`` default arguments of ``RUN_DIR/best/model.json``.

    ``seisforge pick`` and SeisBench's ``classify`` trigger at the weights' default arguments ("from the
    weights"), so the card's thresholds are stored there too and both tools pick alike.
    """
    import json

    path = Path(run_dir) / "best" / "model.json"
    meta = json.loads(path.read_text())
    meta.setdefault("default_args", {}).update({f"{p}_threshold": float(t) for p, t in thresholds.items()})
    path.write_text(json.dumps(meta, indent=4))


def retune_run(parent: LoadedModel, run_dir: str | Path, parent_thresholds: dict[str, float], mode: str,
               dataset: str | Path | None, targets: str | Path | None,
               dev_day: list[str] | None = None) -> dict[str, Any]:
    """Choose the thresholds of the model in ``run_dir`` (``mode``), store them in its card and weights.

    Returns the record added to the card's ``training``. Also usable on a finished distill/prune run.
    """
    import dataclasses

    from seisforge.models.card import read_card, write_card
    from seisforge.models.registry import load_model

    run_dir = Path(run_dir)
    thresholds, record = card_thresholds(parent, load_model(f"run:{run_dir}"), parent_thresholds, mode, dataset,
                                         targets, dev_day)
    store_in_weights(run_dir, thresholds)
    card = read_card(run_dir / "model_card.json")
    write_card(dataclasses.replace(card, thresholds=thresholds, training={**card.training, **record}),
               run_dir / "model_card.json")
    return record
