"""ONNX Runtime execution of a SeisBench model's forward pass (the CPU speed path).

The model is exported in memory (:func:`~seisforge.deploy.runtimes.export.export_graph`) with a
dynamic batch axis; SeisBench's own ``annotate_batch_pre``/``post`` still run in torch around it unless
the normalisation is part of the graph. The graph is rewritten for ONNX Runtime's faster kernels
(:data:`~seisforge.deploy.runtimes.rewrites.ONNXRUNTIME_REWRITES`) and run as single-threaded calls on
micro-batches from a thread pool. Outputs agree with torch to float rounding, far below what moves a
pick. Sessions never write profiles (``enable_profiling`` stays off).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from seisforge.deploy.runtimes.batching import MicroBatched
from seisforge.deploy.runtimes.forward import Forward, importable
from seisforge.deploy.runtimes.rewrites import ONNXRUNTIME_REWRITES, chain

log = logging.getLogger(__name__)


def available() -> bool:
    """True when onnxruntime and onnx are importable."""
    return importable("onnx", "onnxruntime")


def cpu_session(graph: bytes, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session of ``graph`` with ``threads`` intra-op threads and no profiling."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.enable_profiling = False  # the profiler would write onnxruntime_profile__*.json into the cwd
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # no busy-waiting between ops: much faster on small, shared machines; ~no cost on idle ones
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])


def checked_rewrite(graph: bytes, rewrites: Sequence[Callable[[Any], Any]], example: np.ndarray,
                    target: str) -> tuple[bytes, bool, Any]:
    """``graph`` after ``rewrites``, kept only if it still gives the same outputs.

    The rewritten graph is run in ONNX Runtime against the original on ``example``; when a rewrite
    fails or the outputs differ by more than 1e-5, the original graph is kept with a warning.

    Parameters
    ----------
    graph
        Serialised ONNX graph with input ``x``.
    rewrites
        ``onnx.ModelProto -> onnx.ModelProto`` functions applied in order (see
        :mod:`seisforge.deploy.runtimes.rewrites`).
    example
        Input for the comparison.
    target
        Who the rewrites are for, for the warning (``ONNX Runtime``, ``OpenVINO``).

    Returns
    -------
    tuple
        The graph to use, whether it is the rewritten one, and a single-threaded ONNX Runtime session
        of it.
    """
    import onnx

    plain = cpu_session(graph)
    try:
        model = chain(rewrites)(onnx.load_from_string(graph))
        onnx.checker.check_model(model)
        fast_graph = model.SerializeToString()
        fast = cpu_session(fast_graph)
        want, got = plain.run(None, {"x": example})[0], fast.run(None, {"x": example})[0]
        if want.shape == got.shape and np.allclose(want, got, rtol=0, atol=1e-5):
            return fast_graph, True, fast
        log.warning("%s graph rewrite changed the outputs (max %.2g); using the plain graph", target,
                    float(np.abs(want - got).max()) if want.shape == got.shape else float("inf"))
    except Exception as err:  # noqa: BLE001 - any failure keeps the plain (correct) graph
        log.warning("%s graph rewrite failed (%s); using the plain graph", target, err)
    return graph, False, plain


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
        single-threaded ONNX Runtime on ``micro_batch`` windows. This data parallelism beats ONNX
        Runtime's own intra-op threading for PhaseNet, whose 1-D convolutions parallelise poorly inside
        one call (figures in ``docs/deploy.md``), and small batches stay in cache.
    micro_batch
        Windows per ONNX Runtime call.
    """

    def __init__(self, model: Any, in_channels: int, in_samples: int, argdict: dict[str, Any],
                 threads: int | None = None, micro_batch: int = 16) -> None:
        from seisforge.deploy.runtimes.export import export_graph  # torch: not in the lean path's from_graph

        graph, self.includes_pre, example = export_graph(model, in_channels, in_samples, argdict)
        # single-threaded sessions; parallelism across calls instead, see ``threads``
        self.graph, self.rewritten, self.session = checked_rewrite(graph, ONNXRUNTIME_REWRITES, example,
                                                                   "ONNX Runtime")
        self._start_pool(threads, micro_batch, "seisforge-ort")

    @classmethod
    def from_graph(cls, graph: bytes, includes_pre: bool, threads: int, micro_batch: int = 16) -> OnnxForward:
        """The pass of an already exported and rewritten ``graph`` (``self.graph`` of an earlier instance)."""
        self = cls.__new__(cls)
        self.graph, self.includes_pre, self.rewritten = graph, includes_pre, None
        self.session = cpu_session(graph)
        self._start_pool(threads, micro_batch, "seisforge-ort")
        return self

    def _run(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        pred = self.session.run(None, {"x": x})[0]  # thread-safe, releases the GIL
        if out is None:
            return pred
        out[...] = pred
        return out


def build(model: Any, in_channels: int, in_samples: int, argdict: dict[str, Any]) -> Forward:
    """The float32 forward pass of ``model`` in ONNX Runtime (see :class:`OnnxForward`)."""
    return Forward(OnnxForward(model, in_channels, in_samples, argdict), "onnx")
