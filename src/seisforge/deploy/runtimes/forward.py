"""What the runtime builders return (:class:`Forward`), and the check that a runtime is installed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from seisforge.deploy.runtimes.batching import MicroBatched

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Forward:
    """A compiled forward pass and the runtime that runs it.

    Attributes
    ----------
    run
        Callable ``raw windows (N, C, L) float32 -> model output`` (an
        :class:`~seisforge.deploy.runtimes.onnx.OnnxForward` or
        :class:`~seisforge.deploy.runtimes.openvino.OpenVinoForward`).
    backend
        ``onnx`` or ``openvino``.
    """

    run: MicroBatched
    backend: str

    @property
    def includes_pre(self) -> bool:
        """Whether ``annotate_batch_pre`` (the per-window normalisation) is part of the pass."""
        return self.run.includes_pre

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.run(batch)


def importable(*modules: str) -> bool:
    """True when all ``modules`` import."""
    import importlib

    try:
        for name in modules:
            importlib.import_module(name)
    except ImportError:
        return False
    return True
