"""The window-picker protocol every benchmark model follows, and its SeisBench adapter.

A window picker takes a batch of normalised windows ``x`` (N, C, T) and each window's evaluation borders
(N, 2; window samples) and returns the per-window outputs of docs/metrics.md (:data:`SCORE_KEYS` plus the
local onsets ``p_local`` / ``s_local``). STA/LTA and ensembles are window pickers themselves; a SeisBench
picker becomes one through :class:`SeisBenchWindowPicker` (:func:`as_window_picker` decides).

Outputs are read **inside the window borders**, exactly as pick-benchmark:

- ``score_detection``: max of ``1 - P(noise)`` (or of the detection channel);
- ``score_p_or_s``: max P probability / max S probability;
- ``p_local``/``s_local``: argmax of the P/S curve (window samples);
- ``p_prob``/``s_prob`` (seisforge addition): the peak P/S probabilities, for pick-threshold metrics.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from seisforge.models.loaded import LoadedModel
from seisforge.models.seisbench_pickers import label_string

SCORE_KEYS = ("score_detection", "score_p_or_s", "p_prob", "s_prob")


class WindowPicker(Protocol):
    """What the benchmark needs from a model (windowing settings, identity and outputs)."""

    sampling_rate: float
    in_samples: int
    component_order: str
    norm: str
    labels: str
    name: str
    version: str

    def window_outputs(self, x: np.ndarray, borders: np.ndarray) -> dict[str, np.ndarray]:
        """Per-window outputs (see the module docstring) for a batch ``x`` with local ``borders``."""
        ...


def empty_outputs(n: int) -> dict[str, np.ndarray]:
    """NaN scores and zero local onsets for ``n`` windows, to be filled in by a model."""
    out = {k: np.full(n, np.nan) for k in SCORE_KEYS}
    out["p_local"] = np.zeros(n, dtype=np.int64)
    out["s_local"] = np.zeros(n, dtype=np.int64)
    return out


def outputs_from_probabilities(probs: np.ndarray, borders: np.ndarray, labels: str) -> dict[str, np.ndarray]:
    """pick-benchmark outputs from class probabilities (N, K, T) and local borders (N, 2)."""
    labels = list(labels)
    ip, is_ = labels.index("P"), labels.index("S")
    n = len(probs)
    out = empty_outputs(n)
    for i in range(n):
        s, e = int(borders[i][0]), int(borders[i][1])
        local = probs[i, :, s:e]
        if local.shape[-1] == 0:
            continue
        if "N" in labels:
            det = 1 - local[labels.index("N")]
        elif "D" in labels:
            det = local[labels.index("D")]
        else:
            det = np.maximum(local[ip], local[is_])
        out["score_detection"][i] = det.max()
        pmax, smax = local[ip].max(), local[is_].max()
        out["score_p_or_s"][i] = pmax / smax if smax > 0 else np.inf
        out["p_local"][i], out["s_local"][i] = int(np.argmax(local[ip])), int(np.argmax(local[is_]))
        out["p_prob"][i], out["s_prob"][i] = pmax, smax
    return out


class SeisBenchWindowPicker:
    """Adapter: a SeisBench picker as a window picker.

    Parameters
    ----------
    model
        A SeisBench ``WaveformModel`` (moved to ``device``).
    device
        Torch device.
    source
        The model's weights identity (:attr:`LoadedModel.source`), reported as ``version``.
    """

    def __init__(self, model: Any, device: str = "cpu", source: str = "unknown"):
        import torch

        self.model = model.to(device)
        self.device = device
        self.torch = torch
        self.sampling_rate = float(model.sampling_rate)
        self.in_samples = int(model.in_samples)
        self.component_order = model.component_order
        self.norm = getattr(model, "norm", "peak")
        self.labels = label_string(model)
        self.name = type(model).__name__
        self.version = source

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, K, T) in ``labels`` order."""
        with self.torch.inference_mode():
            y = self.model(self.torch.as_tensor(x, device=self.device))
        if isinstance(y, (tuple, list)):
            y = self.torch.stack(list(y), dim=1)
        return y.float().cpu().numpy()

    def window_outputs(self, x: np.ndarray, borders: np.ndarray) -> dict[str, np.ndarray]:
        """Benchmark outputs for a batch."""
        return outputs_from_probabilities(self.probabilities(x), borders, self.labels)


def as_window_picker(loaded: LoadedModel, device: str = "cpu") -> WindowPicker:
    """The window picker of a loaded model.

    That is the model itself when it already is one (STA/LTA, ensembles), else a
    :class:`SeisBenchWindowPicker` on ``device`` that reports ``loaded.source`` as its version.
    """
    if hasattr(loaded.model, "window_outputs"):
        return loaded.model
    return SeisBenchWindowPicker(loaded.model, device=device, source=loaded.source)
