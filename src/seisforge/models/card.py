"""Model cards: checkpoints that carry their preprocessing.

A model card (``model_card.json``, schema ``seisforge.model_card/1``, documented in ``docs/formats.md``)
travels with every model seisforge writes (training, pretraining, adaptation, compression, export). It
states what the weights expect, so that a model is never run on data it was not made for:

- ``sampling_rate``, ``window_samples``, ``component_order``: the input;
- ``normalisation``: how each window is normalised before the model (``demean``, ``amp_norm``
  ``"std"``/``"peak"``/``"none"``, ``per_component``);
- ``labels`` (class order of the output channels, SeisBench's ``labels`` string such as ``"PSN"``) and
  ``label_convention`` (label shape and width);
- ``task`` (``picking``, ``detection`` or ``magnitude``) and ``outputs``: what the outputs are (detection:
  ``classes`` in output order and the ``positive`` class; magnitude: ``targets``, the metadata column
  regressed, and its ``units``);
- ``thresholds``: default trigger thresholds per phase, on the ``calibration`` scale when one is stored;
- ``training``: method, data hash, provenance, parent model; ``parameters``: the parameter accounting;
- ``calibration``: an optional post-hoc calibration fitted on dev data.

:func:`check_card_against_data` applies the loading rules: a different sampling rate is resampled and
recorded; a missing component follows :data:`MISSING_COMPONENT_RULE`; a component order that cannot be
matched is a :class:`~seisforge.errors.DataError`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from seisforge.errors import DataError

SCHEMA = "seisforge.model_card/1"
CARD_FILE = "model_card.json"
AMP_NORMS = ("std", "peak", "none")
#: what a model's outputs are (``picking``: per-sample phase probabilities; ``detection``: event/noise
#: logits per window; ``magnitude``: one magnitude per window)
TASKS = ("picking", "detection", "magnitude")
#: what happens when the data lacks a component the model expects
MISSING_COMPONENT_RULE = (
    "a missing horizontal component (N, E, 1, 2) is filled with zeros and counted, as SeisBench's "
    "annotate does for instruments with fewer channels; a missing vertical (Z) or hydrophone (H) "
    "component is an error, because the vertical carries the P onset and the hydrophone is the input "
    "an ocean-bottom model was adapted to."
)


@dataclass
class ModelCard:
    """What a model expects and where it came from (see the module docstring)."""

    model_class: str
    sampling_rate: float
    window_samples: int
    component_order: str
    labels: str
    normalisation: dict[str, Any] = field(default_factory=lambda: {"demean": True, "amp_norm": "std",
                                                                   "per_component": False})
    label_convention: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    task: str = "picking"
    outputs: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA

    def __post_init__(self) -> None:
        problems = card_problems(self)
        if problems:
            raise DataError("invalid model card: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """The card as plain JSON-serialisable data."""
        return asdict(self)


def card_problems(card: ModelCard) -> list[str]:
    """Everything wrong with a card's fields (empty when it is valid)."""
    out = []
    if card.schema != SCHEMA:
        out.append(f"schema {card.schema!r} is not {SCHEMA!r}")
    if not card.sampling_rate or card.sampling_rate <= 0:
        out.append(f"sampling_rate must be > 0, got {card.sampling_rate!r}")
    if not isinstance(card.window_samples, int) or card.window_samples <= 0:
        out.append(f"window_samples must be a positive integer, got {card.window_samples!r}")
    if not card.component_order or len(set(card.component_order)) != len(card.component_order):
        out.append(f"component_order must be distinct channel letters, got {card.component_order!r}")
    if not card.labels:
        out.append("labels (the class order) is empty")
    if card.task not in TASKS:
        out.append(f"task must be one of {TASKS}, got {card.task!r}")
    if card.normalisation.get("amp_norm", "std") not in AMP_NORMS:
        out.append(f"normalisation.amp_norm must be one of {AMP_NORMS}, got {card.normalisation['amp_norm']!r}")
    bad = {k: v for k, v in card.thresholds.items() if not 0 < float(v) < 1}
    if bad:
        out.append(f"thresholds must lie in (0, 1): {bad}")
    return out


def write_card(card: ModelCard, path: str | Path) -> Path:
    """Write ``card`` as JSON to ``path`` (a file, or a folder that gets ``model_card.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / CARD_FILE
    path.write_text(json.dumps(card.to_dict(), indent=2, sort_keys=True, default=float) + "\n")
    return path


def read_card(path: str | Path) -> ModelCard:
    """Read and validate a model card; a clear :class:`DataError` naming the file when it is unusable."""
    path = Path(path)
    if path.is_dir():
        path = path / CARD_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: no model card") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a JSON model card ({err})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: a model card is a JSON object")
    known = {f.name for f in fields(ModelCard)}
    unknown = sorted(set(data) - known)
    missing = [name for name in ("model_class", "sampling_rate", "window_samples", "component_order", "labels")
               if name not in data]
    if unknown or missing:
        raise DataError(f"{path}: model card has unknown fields {unknown} / lacks {missing}")
    try:
        return ModelCard(**data)
    except DataError as err:
        raise DataError(f"{path}: {err}") from None


def card_from_seisbench(model: Any, **sections: Any) -> ModelCard:
    """A card describing a SeisBench ``WaveformModel`` picker (``sections`` fill the other fields)."""
    norm = getattr(model, "norm", "std")
    normalisation = {"demean": True, "amp_norm": norm if norm in AMP_NORMS else "std",
                     "per_component": bool(getattr(model, "norm_amp_per_comp", False)),
                     "detrend": bool(getattr(model, "norm_detrend", False))}
    thresholds = sections.pop("thresholds", None)
    if thresholds is None:
        from seisforge.seisbench_compat import default_threshold

        default = float(default_threshold(model))  # per-phase weights' defaults first, as pick and classify do
        given = getattr(model, "default_args", {}) or {}
        thresholds = {p: float(given.get(f"{p}_threshold", default)) for p in str(model.labels) if p != "N"}
    return ModelCard(model_class=type(model).__name__, sampling_rate=float(model.sampling_rate),
                     window_samples=int(model.in_samples), component_order=str(model.component_order),
                     labels=str(model.labels), normalisation=normalisation, thresholds=thresholds,
                     **sections)


@dataclass(frozen=True)
class DataCheck:
    """What loading a model onto data with ``sampling_rate`` and ``component_order`` does."""

    resample_from: float | None
    zero_filled: tuple[str, ...]
    notes: tuple[str, ...]


def check_card_against_data(card: ModelCard, sampling_rate: float, component_order: str,
                            source: str = "data") -> DataCheck:
    """Apply the loading rules of the module docstring; raise :class:`DataError` when they cannot hold."""
    notes = []
    resample = None
    if abs(float(sampling_rate) - card.sampling_rate) > 1e-9:
        resample = float(sampling_rate)
        notes.append(f"{source} at {sampling_rate:g} Hz resampled to the model's {card.sampling_rate:g} Hz")
    missing = [c for c in card.component_order if c not in component_order]
    fatal = [c for c in missing if c in "ZH"]
    if fatal:
        raise DataError(
            f"{source} has components {component_order!r} but the model ({card.model_class}) needs "
            f"{card.component_order!r}: missing {''.join(fatal)} cannot be filled ({MISSING_COMPONENT_RULE})"
        )
    if missing:
        notes.append(f"{source} lacks {''.join(missing)}: zero-filled and counted")
    return DataCheck(resample, tuple(missing), tuple(notes))
