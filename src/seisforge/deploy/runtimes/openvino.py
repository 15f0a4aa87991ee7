"""OpenVINO execution of a SeisBench model's forward pass: bf16 (fast, approximate) or float32.

On CPUs with native bf16 arithmetic (AVX512_BF16 or AMX), OpenVINO runs PhaseNet in bfloat16 in a
fraction of the time of the float32 pass. In float32 it serves as the exact pass where it times
faster than ONNX Runtime (see ``backend`` of :class:`~seisforge.deploy.engine.FastPicker`).
bfloat16 keeps 8 significand bits, so the prediction curves differ from float32 enough to move a few
picks by a sample or more (figures in ``docs/deploy.md``). The picker therefore never takes picks
from bf16 curves: it recomputes every window that touches a possible trigger in float32 (see
:mod:`seisforge.deploy.refine`). This module only provides the forward pass.

The graph is the same in-memory ONNX export as the ONNX Runtime path
(:func:`seisforge.deploy.runtimes.export.export_graph`); nothing is written to disk.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from seisforge.deploy.runtimes.batching import MicroBatched
from seisforge.deploy.runtimes.cache import openvino_cache_dir
from seisforge.deploy.runtimes.forward import Forward, importable
from seisforge.deploy.runtimes.onnx import checked_rewrite
from seisforge.deploy.runtimes.rewrites import (
    OPENVINO_REWRITES,
    merge_slice_chains,
    polyphase_transposed_conv,
)

log = logging.getLogger(__name__)


def available() -> bool:
    """True when openvino, onnx and onnxruntime (which checks the graph rewrites) are importable."""
    return importable("onnx", "onnxruntime", "openvino")


def bf16_native() -> bool:
    """True when OpenVINO reports native bf16 arithmetic on this CPU."""
    if not available():
        return False
    import openvino as ov

    try:
        caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except RuntimeError:  # no CPU plugin
        return False
    return "BF16" in caps


def mean_removing(model: Any, argdict: dict[str, Any], in_channels: int, in_samples: int) -> bool:
    """True when ``annotate_batch_pre`` ignores a constant added to each channel of a window.

    Checked in float64 on random windows with offsets of 1e3 to 1e5 per channel; PhaseNet's
    normalisation (demean, then scale) passes, a normalisation without demeaning does not.
    """
    import torch

    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, in_channels, in_samples, generator=g, dtype=torch.float64)
    shift = torch.randn(4, in_channels, 1, generator=g, dtype=torch.float64) * 1e5
    with torch.inference_mode():
        a, b = model.annotate_batch_pre(x, argdict=argdict), model.annotate_batch_pre(x + shift, argdict=argdict)
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.shape != b.shape:
        return False
    return bool(torch.allclose(a, b, rtol=0, atol=1e-6 * float(a.abs().max()) + 1e-9))


def _seconds(request: Any, x: np.ndarray) -> float:
    """Wall seconds of one inference of ``x``."""
    t0 = time.perf_counter()
    request.infer({0: x})
    return time.perf_counter() - t0


class OpenVinoForward(MicroBatched):
    """Callable ``raw windows (N, C, L) float32 -> model output`` through OpenVINO (bf16 or float32).

    The per-window normalisation (``annotate_batch_pre``) is part of the compiled graph when it
    returns a plain tensor. In bf16, demeaning raw counts with a large offset would lose the signal
    entirely, so each window's channels are first centred in float32 (numpy, in the worker threads);
    this changes nothing when ``annotate_batch_pre`` itself removes each channel's mean, which is
    checked at construction (``centred``). Otherwise the normalisation runs as a separate float32
    OpenVINO model (slower). When ``annotate_batch_pre`` returns more than a tensor, ``includes_pre``
    is False and the caller normalises. The graph gets
    :data:`~seisforge.deploy.runtimes.rewrites.OPENVINO_REWRITES`, checked in float32 against the plain
    graph (on any difference the plain graph is used).

    Parameters
    ----------
    model
        The torch model (in eval mode); exported once at construction.
    in_channels, in_samples
        Shape of one window.
    argdict
        Annotate arguments passed to ``annotate_batch_pre``.
    threads
        Micro-batches run on this many threads at once (default: torch's thread count), each through
        single-threaded OpenVINO streams, like the ONNX Runtime path.
    micro_batch
        Windows per inference call. The models are compiled for exactly this many windows, and for
        pieces of :attr:`SMALL` that run the rest of a call (the last piece padded with zero windows,
        whose outputs are dropped): with every shape static, OpenVINO folds the shape arithmetic of
        PhaseNet's crops and chooses faster kernels than with a dynamic batch axis. The default is the
        fastest size measured on 2 threads (figures in ``docs/deploy.md``).
    precision
        ``bf16`` (the point of this backend) or ``f32`` (the float32 pass, faster than ONNX Runtime
        for PhaseNet; :class:`~seisforge.deploy.engine.FastPicker` times both).
    """

    #: windows per call of the small static models that run what is left after full micro-batches
    SMALL = 16

    def __init__(self, model: Any, in_channels: int, in_samples: int, argdict: dict[str, Any],
                 threads: int | None = None, micro_batch: int = 128, precision: str = "bf16") -> None:
        from seisforge.deploy.runtimes.export import export_graph  # torch: not in the lean path's from_graph

        self._start_pool(threads, micro_batch, "seisforge-ov")
        plain, self.includes_pre, example = export_graph(model, in_channels, in_samples, argdict, part="auto")
        #: windows are centred in float32 before the bf16 graph (which includes the normalisation)
        self.centred = self.includes_pre and precision != "f32" and mean_removing(model, argdict, in_channels,
                                                                                   in_samples)
        separate_pre = self.includes_pre and precision != "f32" and not self.centred
        if separate_pre:  # bf16 network, float32 normalisation as a model of its own
            plain, _, example = export_graph(model, in_channels, in_samples, argdict, part="net")
        # rewrites for OpenVINO's fast bf16 kernels, checked in float32 against the plain graph
        graph, self.rewritten, _ = checked_rewrite(plain, OPENVINO_REWRITES, example, "OpenVINO")
        self.in_shape = (in_channels, in_samples)
        core = self._core()
        self.graph, self.polyphase = self._faster_graph(core, graph, example, precision)
        self.net = self._compile_static(core, self.graph, precision)
        self.pre = None
        if separate_pre:
            pre_graph = export_graph(model, in_channels, in_samples, argdict, part="pre")[0]
            self.pre = self._compile_static(core, pre_graph, "f32")
        self._ready()

    @classmethod
    def from_graph(cls, graph: bytes, in_shape: tuple[int, int], threads: int, micro_batch: int = 128) -> OpenVinoForward:
        """The float32 pass of an already exported and rewritten ``graph`` that includes the normalisation
        (``self.graph`` of an earlier float32 instance); OpenVINO's blob cache makes compiling cheap."""
        self = cls.__new__(cls)
        self._start_pool(threads, micro_batch, "seisforge-ov")
        self.graph, self.in_shape, self.includes_pre, self.centred, self.rewritten = graph, tuple(in_shape), True, False, None
        self.net, self.pre = self._compile_static(self._core(), graph, "f32"), None
        self._ready()
        return self

    def _faster_graph(self, core: Any, graph: bytes, example: np.ndarray, precision: str) -> tuple[bytes, bool]:
        """``graph``, or ``graph`` with its transposed convolutions as polyphase convolutions
        (:func:`~seisforge.deploy.runtimes.rewrites.polyphase_transposed_conv`) when that runs faster here.

        Which is faster depends on the model and on the kernels OpenVINO has on this CPU: for PhaseNet the
        polyphase graph was faster with AVX2 kernels and slower with AVX-512 ones, for PhaseNetLight faster
        with both (``docs/deploy.md``), so both are timed, each on
        single-threaded micro-batches, interleaved, the best of three each. Returns the graph and
        whether it is the polyphase one.
        """
        # the polyphase trims join the crops that follow them
        alt, changed, _ = checked_rewrite(graph, (polyphase_transposed_conv, merge_slice_chains), example, "OpenVINO")
        if not changed or alt == graph:
            return graph, False
        config = {"NUM_STREAMS": 1, "INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": precision}
        reqs = []
        for g in (graph, alt):
            m = core.read_model(g)
            m.reshape([self.micro_batch, *self.in_shape])
            reqs.append(core.compile_model(m, "CPU", config).create_infer_request())
        x = np.random.default_rng(0).standard_normal((self.micro_batch, *self.in_shape)).astype(np.float32)
        best = [float("inf"), float("inf")]
        for _ in range(3):
            for i, req in enumerate(reqs):
                best[i] = min(best[i], _seconds(req, x))
        log.info("OpenVINO %s: plain transposed convolutions %.2f ms, polyphase %.2f ms per %d windows", precision,
                 best[0] * 1e3, best[1] * 1e3, self.micro_batch)
        return (alt, True) if best[1] < best[0] else (graph, False)

    @property
    def sizes(self) -> list[int]:
        """The static batch sizes: full micro-batches, and small pieces for the rest of a call."""
        return sorted({self.micro_batch, min(self.micro_batch, self.SMALL)}, reverse=True)

    @staticmethod
    def _core() -> Any:
        import openvino as ov

        core = ov.Core()
        blobs = openvino_cache_dir()
        if blobs is not None:  # compiled blobs reused by the next process (OpenVINO's own model cache)
            core.set_property({"CACHE_DIR": blobs})
        return core

    def _ready(self) -> None:
        self.precision = self.net[self.micro_batch].get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self._local = threading.local()
        # one call from this thread first: OpenVINO's Python bindings initialise pybind11's numpy API on
        # first use, and two worker threads doing that at once deadlocked (a `seisforge pick` process
        # hung in its start-up timing, both threads waiting on each other's one-time initialisation)
        self._run(np.zeros((1, *self.in_shape), dtype=np.float32))

    def _compile_static(self, core: Any, onnx_graph: bytes, hint: str) -> dict[int, Any]:
        """``onnx_graph`` compiled by ``core`` for each of :attr:`sizes` windows, at precision ``hint``."""
        config = {"NUM_STREAMS": self.threads, "INFERENCE_NUM_THREADS": self.threads,
                  "INFERENCE_PRECISION_HINT": hint}
        compiled = {}
        for size in self.sizes:
            m = core.read_model(onnx_graph)
            m.reshape([size, *self.in_shape])
            compiled[size] = core.compile_model(m, "CPU", config)
        return compiled

    def _run(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        reqs = getattr(self._local, "requests", None)
        if reqs is None:  # one pair of infer requests per batch size and worker thread
            reqs = self._local.requests = {
                size: (self.pre[size].create_infer_request() if self.pre is not None else None,
                       self.net[size].create_infer_request()) for size in self.sizes}
        start = 0  # x: contiguous float32 (run_numpy), so OpenVINO can read each piece in place
        while start < len(x):  # a full micro-batch, else small pieces (the last one padded with zeros)
            size = next((s for s in self.sizes if len(x) - start >= s), self.sizes[-1])
            piece = x[start : start + size]
            n = len(piece)
            if n < size:
                piece = np.concatenate([piece, np.zeros((size - n, *self.in_shape), dtype=np.float32)])
            if self.centred:
                piece = piece - piece.mean(axis=-1, keepdims=True)
            pre, net = reqs[size]
            if pre is not None:
                piece = pre.infer({0: piece})[0]
            # no copies by OpenVINO (the piece is read in place, the output is a view of the request's
            # tensor until its next call): one copy, straight into the call's output
            pred = net.infer({0: piece}, share_inputs=True, share_outputs=True)[0]  # releases the GIL
            if out is None:
                out = np.empty((len(x), *pred.shape[1:]), dtype=pred.dtype)
            out[start : start + n] = pred[:n]
            start += n
        return out


def build(model: Any, in_channels: int, in_samples: int, argdict: dict[str, Any],
          precision: str = "bf16") -> Forward:
    """The forward pass of ``model`` in OpenVINO at ``precision`` (``bf16`` or ``f32``)."""
    return Forward(OpenVinoForward(model, in_channels, in_samples, argdict, precision=precision), "openvino")
