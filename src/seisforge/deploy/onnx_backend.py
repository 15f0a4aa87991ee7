"""ONNX Runtime execution of a SeisBench model's forward pass (CPU speed path).

The model is exported in memory from the loaded PyTorch module (no files written, nothing
unpickled), with a dynamic batch axis; SeisBench's own ``annotate_batch_pre``/``post`` still run in
torch around it. Outputs agree with torch to about 1e-6, far below what moves a pick.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import torch


def available() -> bool:
    """True when onnxruntime and onnx are importable."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class _PreAndForward(torch.nn.Module):
    """``annotate_batch_pre`` (per-window normalisation) and the forward pass as one graph."""

    def __init__(self, model: Any, argdict: dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.argdict = argdict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.model.annotate_batch_pre(x, argdict=self.argdict))


class OnnxForward:
    """Callable ``raw windows (N, C, L) float32 -> model output`` through ONNX Runtime.

    The model's ``annotate_batch_pre`` is part of the exported graph when it returns a plain tensor
    (no piggyback), so the normalisation runs fused in ONNX Runtime; ``includes_pre`` says which.

    Parameters
    ----------
    model
        The torch model (in eval mode); exported once at construction.
    in_channels, in_samples
        Shape of one window, for the export example.
    argdict
        Annotate arguments passed to ``annotate_batch_pre``.
    threads
        ONNX Runtime intra-op threads (default: torch's thread count).
    """

    def __init__(self, model: Any, in_channels: int, in_samples: int, argdict: dict[str, Any],
                 threads: int | None = None) -> None:
        import onnxruntime as ort

        example = torch.randn(4, in_channels, in_samples, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            self.includes_pre = isinstance(model.annotate_batch_pre(example, argdict=argdict), torch.Tensor)
        module = _PreAndForward(model, argdict) if self.includes_pre else model
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (example,), buf, input_names=["x"], output_names=["y"],
                dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17, dynamo=False,
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        # no busy-waiting between ops: much faster on small, shared machines; ~no cost on idle ones
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(batch.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self.session.run(None, {"x": x})[0])
