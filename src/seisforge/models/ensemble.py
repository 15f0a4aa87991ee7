"""Ensembles of SeisBench pickers: the ``ensemble:`` model spec (see :mod:`seisforge.models.registry`)."""

from __future__ import annotations

import numpy as np

from seisforge.errors import ConfigError
from seisforge.models.loaded import LoadedModel
from seisforge.models.window_picker import SeisBenchWindowPicker, outputs_from_probabilities


def ensemble_members(arg: str) -> list[tuple[str, str | None]]:
    """The ``(spec, weights)`` members of ``ensemble:SPEC1,SPEC2[,...]``; each item is ``SPEC[@WEIGHTS]``."""
    specs = [s for s in arg.split(",") if s]
    if len(specs) < 2:
        raise ConfigError("ensemble needs at least two specs: ensemble:run:A,run:B")
    members = []
    for item in specs:
        spec, _, weights = item.partition("@")
        members.append((spec, weights or None))
    return members


class EnsemblePicker:
    """Averages the class probabilities of several pickers (same rate, window and labels).

    Parameters
    ----------
    members
        Loaded SeisBench pickers; each is wrapped in a :class:`SeisBenchWindowPicker` on the CPU.
    """

    def __init__(self, members: list[LoadedModel]):
        self.members = [SeisBenchWindowPicker(m.model, source=m.source) for m in members]
        first = self.members[0]
        for m in self.members[1:]:
            if (m.sampling_rate, m.in_samples, m.component_order) != (first.sampling_rate, first.in_samples,
                                                                      first.component_order):
                raise ConfigError("ensemble members must share sampling rate, window length and components")
            if sorted(m.labels) != sorted(first.labels):
                raise ConfigError(f"ensemble members have different classes: {m.labels} vs {first.labels}")
        self.sampling_rate, self.in_samples = first.sampling_rate, first.in_samples
        self.component_order, self.norm, self.labels = first.component_order, first.norm, first.labels
        self.name = "Ensemble(" + ",".join(m.name for m in self.members) + ")"
        self.version = ";".join(m.version for m in self.members)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Mean probabilities, each member's classes reordered to the first member's."""
        out = None
        for m in self.members:
            p = m.probabilities(x)
            p = p[:, [m.labels.index(c) for c in self.labels]]
            out = p if out is None else out + p
        return out / len(self.members)

    def window_outputs(self, x: np.ndarray, borders: np.ndarray) -> dict[str, np.ndarray]:
        """Benchmark outputs from the averaged probabilities."""
        return outputs_from_probabilities(self.probabilities(x), borders, self.labels)
