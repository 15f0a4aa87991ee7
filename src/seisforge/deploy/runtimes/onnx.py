"""ONNX Runtime execution of a SeisBench model's forward pass (CPU speed path).

The model is exported in memory from the loaded PyTorch module (no files written, nothing
unpickled), with a dynamic batch axis; SeisBench's own ``annotate_batch_pre``/``post`` still run in
torch around it. The graph is rewritten for ONNX Runtime's faster kernels
(:func:`~seisforge.deploy.onnx_rewrites.conv1d_as_conv2d`,
:func:`~seisforge.deploy.onnx_rewrites.softmax_explicit`) and run as single-threaded calls on micro-batches from a thread pool.
Outputs agree with torch to about 1e-6, far below what moves a pick.
"""

from __future__ import annotations

import io
import logging
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

def importable(*modules: str) -> bool:
    """True when all ``modules`` import."""
    import importlib

    try:
        for name in modules:
            importlib.import_module(name)
    except ImportError:
        return False
    return True


def available() -> bool:
    """True when onnxruntime and onnx are importable."""
    return importable("onnx", "onnxruntime")


def _session(graph: bytes, threads: int = 1) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # no busy-waiting between ops: much faster on small, shared machines; ~no cost on idle ones
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])


def checked_rewrite(graph: bytes, rewrite: Any, example: np.ndarray, target: str) -> tuple[bytes, bool, Any]:
    """``rewrite`` applied to ``graph``, kept only if it still gives the same outputs.

    The rewritten graph is run in ONNX Runtime against the original on ``example``; when the rewrite
    fails or the outputs differ by more than 1e-5, the original graph is kept with a warning.

    Parameters
    ----------
    graph
        Serialised ONNX graph with input ``x``.
    rewrite
        ``onnx.ModelProto -> onnx.ModelProto`` (see :mod:`seisforge.deploy.onnx_rewrites`).
    example
        Input for the comparison.
    target
        Who the rewrite is for, for the warning (``ONNX Runtime``, ``OpenVINO``).

    Returns
    -------
    tuple
        The graph to use, whether it is the rewritten one, and a single-threaded ONNX Runtime session
        of it.
    """
    import onnx

    plain = _session(graph)
    try:
        model = rewrite(onnx.load_from_string(graph))
        onnx.checker.check_model(model)
        fast_graph = model.SerializeToString()
        fast = _session(fast_graph)
        want, got = plain.run(None, {"x": example})[0], fast.run(None, {"x": example})[0]
        if want.shape == got.shape and np.allclose(want, got, rtol=0, atol=1e-5):
            return fast_graph, True, fast
        log.warning("%s graph rewrite changed the outputs (max %.2g); using the plain graph", target,
                    float(np.abs(want - got).max()) if want.shape == got.shape else float("inf"))
    except Exception as err:  # noqa: BLE001 - any failure keeps the plain (correct) graph
        log.warning("%s graph rewrite failed (%s); using the plain graph", target, err)
    return graph, False, plain


def optimized_session(graph: bytes, example: np.ndarray) -> tuple[Any, bool]:
    """Session of ``graph`` after the ``conv1d_as_conv2d`` and ``softmax_explicit`` rewrites.

    Returns
    -------
    tuple
        The ONNX Runtime session and whether the rewritten graph is used (see :func:`checked_rewrite`).
    """
    from seisforge.deploy.onnx_rewrites import conv1d_as_conv2d, softmax_explicit

    _, rewritten, session = checked_rewrite(graph, lambda m: softmax_explicit(conv1d_as_conv2d(m)), example,
                                            "ONNX Runtime")
    return session, rewritten


class MicroBatched:
    """Run ``self._run`` on micro-batches of ``self.micro_batch`` windows, ``self.threads`` at once.

    Subclasses set ``threads``, ``micro_batch`` and ``_pool`` (see :meth:`_start_pool`) and implement
    ``_run(x: ndarray) -> ndarray``, which must release the GIL to run in parallel.
    """

    threads: int
    micro_batch: int
    _pool: ThreadPoolExecutor | None

    def _start_pool(self, threads: int | None, micro_batch: int, name: str) -> None:
        self.threads = max(1, int(threads or torch.get_num_threads()))
        self.micro_batch = max(1, int(micro_batch))
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=name) if self.threads > 1 else None

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(batch.detach().cpu().numpy(), dtype=np.float32)
        chunks = [x[i : i + self.micro_batch] for i in range(0, len(x), self.micro_batch)]
        if self._pool is None or len(chunks) == 1:
            outs = [self._run(c) for c in chunks]
        else:
            outs = list(self._pool.map(self._run, chunks))
        return torch.from_numpy(outs[0] if len(outs) == 1 else np.concatenate(outs))


class _PreAndForward(torch.nn.Module):
    """``annotate_batch_pre`` (per-window normalisation) and/or the forward pass as one graph."""

    def __init__(self, model: Any, argdict: dict[str, Any], net: bool = True) -> None:
        super().__init__()
        self.model = model
        self.argdict = argdict
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.model.annotate_batch_pre(x, argdict=self.argdict)
        return self.model(x) if self.net else x


def export_graph(model: Any, in_channels: int, in_samples: int, argdict: dict[str, Any],
                 part: str = "auto") -> tuple[bytes, bool, np.ndarray]:
    """Export ``annotate_batch_pre`` and/or the forward pass to an in-memory ONNX graph.

    Parameters
    ----------
    model
        The torch model; it is exported in eval mode and its training flag is restored afterwards.
    in_channels, in_samples
        Shape of one window.
    argdict
        Annotate arguments passed to ``annotate_batch_pre``.
    part
        ``auto``: the normalisation and the network when ``annotate_batch_pre`` returns a plain tensor
        (no piggyback), so it runs fused, else the network alone; ``net``: the network alone;
        ``pre``: the normalisation alone (``ValueError`` when it returns more than a tensor).

    Returns
    -------
    tuple
        The serialised graph (input ``x``, output ``y``, dynamic batch axis), whether it includes
        ``annotate_batch_pre``, and the example input used for the export (4 random windows).
    """
    if part not in ("auto", "net", "pre"):
        raise ValueError(f"part must be auto, net or pre, got {part!r}")
    example = torch.randn(4, in_channels, in_samples, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        plain_pre = isinstance(model.annotate_batch_pre(example, argdict=argdict), torch.Tensor)
    if part == "pre" and not plain_pre:
        raise ValueError(f"{type(model).__name__}.annotate_batch_pre returns more than a tensor")
    includes_pre = part == "pre" or (part == "auto" and plain_pre)
    was_training = model.training
    # the wrapper must be in eval mode: export restores the wrapper's mode on all submodules afterwards
    module = (_PreAndForward(model, argdict, net=part != "pre") if includes_pre else model).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), buf, input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17, dynamo=False,
        )
    model.train(was_training)
    return buf.getvalue(), includes_pre, example.numpy()


class OnnxForward(MicroBatched):
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
        Windows are run on this many threads at once (default: torch's thread count), each running
        single-threaded ONNX Runtime on ``micro_batch`` windows. On 2 CPU cores this data parallelism
        was about 2x faster than ONNX Runtime's own intra-op threading for PhaseNet (whose 1-D
        convolutions parallelise poorly inside one call), and small batches stay in cache.
    micro_batch
        Windows per ONNX Runtime call.
    """

    def __init__(self, model: Any, in_channels: int, in_samples: int, argdict: dict[str, Any],
                 threads: int | None = None, micro_batch: int = 16) -> None:
        graph, self.includes_pre, example = export_graph(model, in_channels, in_samples, argdict)
        # single-threaded sessions; parallelism across calls instead, see ``threads``
        self.session, self.rewritten = optimized_session(graph, example)
        self._start_pool(threads, micro_batch, "seisforge-ort")

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"x": x})[0]  # thread-safe, releases the GIL
