"""What loading a model spec gives: the model and where it came from, side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model and its provenance.

    The provenance travels beside the model rather than as an attribute set on it, so that third-party
    model objects (SeisBench ``WaveformModel`` instances) are left as their library made them.

    Attributes
    ----------
    model
        The model: a SeisBench ``WaveformModel``, or an object that already is a window picker
        (:class:`~seisforge.models.window_picker.WindowPicker`, e.g. STA/LTA or an ensemble).
    source
        Human-readable weights identity, recorded in reports: a weight-pair prefix with its version
        (``.../ethz (v2)``), ``pretrained:NAME``, ``random-init``, ``run:DIR``, a window picker's own
        version string, or the members' sources joined by ``;`` for an ensemble.
    spec
        The canonical model spec it was loaded from (:class:`~seisforge.models.registry.ModelSpec`
        as text, e.g. ``seisbench:PhaseNet`` for a bare ``PhaseNet``).
    card
        The model card (:class:`~seisforge.models.card.ModelCard`) stored with the weights, or None;
        callers check it against their data with :func:`~seisforge.models.card.check_card_against_data`.
    """

    model: Any
    source: str
    spec: str
    card: Any = None
