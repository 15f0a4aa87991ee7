"""The float32 and bf16 forward passes: which runtime runs them, their timing, and when bf16 is used.

``backend`` chooses the float32 pass: ``torch``, ``onnx`` (ONNX Runtime), ``openvino`` (OpenVINO in
float32) or ``auto`` (on the CPU, whichever of the two runtimes is installed, the faster one in a
timing at start-up when both are; else torch). ``precision`` chooses whether a bf16 first pass
(OpenVINO, CPUs with native bf16) runs before the float32 refinement of :mod:`seisforge.deploy.refine`:
``fp32``, ``bf16`` or ``auto`` (bf16 while it pays, see :class:`Passes`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from seisforge.deploy.runtimes import cache
from seisforge.deploy.runtimes import onnx as ort_runtime
from seisforge.deploy.runtimes import openvino as ov_runtime
from seisforge.deploy.runtimes.forward import Forward
from seisforge.errors import ConfigError

log = logging.getLogger(__name__)

#: runs a forward pass (None: the torch model) on a batch of raw windows
RunBatch = Callable[[Forward | None, np.ndarray], np.ndarray]

#: the CPU runtimes of the float32 pass (each module has ``available()``), and what to install for them
_RUNTIMES = {"onnx": (ort_runtime, "onnxruntime onnx"), "openvino": (ov_runtime, "openvino onnxruntime onnx")}


def time_pass(run_batch: RunBatch, net: Forward | None, n: int, in_channels: int, in_samples: int) -> float:
    """Best of 3 timings of ``net`` (a float32 or bf16 pass; None: torch) on ``n`` random windows."""
    x = np.random.default_rng(0).normal(size=(n, in_channels, in_samples)).astype(np.float32)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        run_batch(net, x)
        times.append(time.perf_counter() - t)
    return min(times)


def _check_backend(backend: str, device: torch.device) -> None:
    """Raise :class:`~seisforge.errors.ConfigError` for an unknown backend, or one that cannot run here."""
    if backend not in ("auto", "torch", *_RUNTIMES):
        raise ConfigError(f"backend must be auto, torch, onnx or openvino, got {backend!r}")
    if backend in _RUNTIMES:
        if not _RUNTIMES[backend][0].available():
            raise ConfigError(f"backend {backend} needs {_RUNTIMES[backend][1]}: pip install {_RUNTIMES[backend][1]}")
        if device.type != "cpu":
            raise ConfigError(f"backend {backend} runs on the CPU; use --backend torch with --device cuda")


def _build_exact(name: str, model: Any, in_channels: int, argdict: dict[str, Any]) -> Forward:
    """The float32 pass of ``model`` in runtime ``name`` (``onnx`` or ``openvino``)."""
    if name == "onnx":
        return ort_runtime.build(model, in_channels, model.in_samples, argdict)
    return ov_runtime.build(model, in_channels, model.in_samples, argdict, precision="f32")


def exact_pass(model: Any, in_channels: int, argdict: dict[str, Any], device: torch.device, backend: str,
               time_one: Callable[[Forward], float],
               known: dict[str, float] | None = None) -> tuple[Forward | None, dict[str, float]]:
    """The float32 pass for ``backend`` (None: the torch model), and the timings that chose it.

    Parameters
    ----------
    model, in_channels, argdict
        The model, its input channels and the annotate arguments.
    device
        Torch device; the runtimes run on the CPU only.
    backend
        ``auto``, ``torch``, ``onnx`` or ``openvino`` (see the module docstring).
    time_one
        Times one candidate pass (seconds); called only when several candidates were built.
    known
        Timings of an earlier process with the same cache key (:mod:`~seisforge.deploy.runtimes.cache`):
        only their fastest runtime is built, nothing is timed.

    Returns
    -------
    tuple
        The pass, and seconds per candidate when they were timed (else empty).
    """
    _check_backend(backend, device)
    if backend == "torch" or (backend == "auto" and device.type != "cpu"):
        return None, {}
    wanted = [backend] if backend in _RUNTIMES else list(_RUNTIMES)
    fastest = min(known, key=known.get) if known else None
    # ``available()`` imports the runtime: with a choice from an earlier process the other is not imported
    if fastest in wanted and (fastest == backend or _RUNTIMES[fastest][0].available()):
        wanted = [fastest]
    else:
        wanted = [b for b in wanted if b == backend or _RUNTIMES[b][0].available()]
    built = {}
    for name in wanted:
        try:
            built[name] = _build_exact(name, model, in_channels, argdict)
        except Exception as err:  # noqa: BLE001 - export or compilation can fail for exotic models
            if backend == name:
                raise ConfigError(f"{name} export of {type(model).__name__} failed: {err}") from err
            log.warning("%s export of %s failed (%s)", name, type(model).__name__, err)
    if not built:
        log.warning("no ONNX Runtime or OpenVINO pass for %s; using torch", type(model).__name__)
        return None, {}
    if len(built) == 1:
        return next(iter(built.values())), dict(known or {})
    times = {name: time_one(fwd) for name, fwd in built.items()}
    return built[min(times, key=times.get)], times


def bf16_pass(model: Any, in_channels: int, argdict: dict[str, Any], device: torch.device, precision: str,
              refine_margin: float, thresholds: np.ndarray) -> Forward | None:
    """The OpenVINO bf16 pass for ``precision`` (None: float32 only).

    ``bf16`` raises :class:`~seisforge.errors.ConfigError` where the pass cannot run (GPU, no native
    bf16, a refinement margin not below half the lowest of the phases' ``thresholds``, failed
    compilation); ``auto`` then falls back to float32.
    """
    if precision not in ("auto", "fp32", "bf16"):
        raise ConfigError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if precision == "fp32" or (precision == "auto" and device.type != "cpu"):
        return None
    if precision == "bf16" and device.type != "cpu":
        raise ConfigError("precision bf16 runs through OpenVINO on the CPU; use --precision fp32 with a GPU")
    if not ov_runtime.bf16_native():
        if precision == "bf16":
            raise ConfigError("precision bf16 needs OpenVINO (pip install openvino) and a CPU with native "
                              "bf16 (AVX512_BF16 or AMX); use --precision fp32")
        return None
    lowest_off_threshold = float(np.min(thresholds)) / 2  # the lowest trigger-off threshold
    if not 0 < refine_margin < lowest_off_threshold:
        if precision == "bf16":
            raise ConfigError(f"precision bf16: the refinement margin {refine_margin} must be below half the "
                              f"lowest threshold ({lowest_off_threshold:g}); lower the margin or use --precision fp32")
        log.info("thresholds too low for the bf16 refinement margin; using float32")
        return None
    try:
        return ov_runtime.build(model, in_channels, model.in_samples, argdict)
    except Exception as err:  # noqa: BLE001 - export or compilation can fail for exotic models
        if precision == "bf16":
            raise ConfigError(f"OpenVINO bf16 compilation of {type(model).__name__} failed: {err}") from err
        log.warning("OpenVINO bf16 path unavailable for %s (%s); using float32", type(model).__name__, err)
        return None


class Passes:
    """The float32 pass, the bf16 pass, and which of them runs first on the next input.

    With ``precision="auto"``, bf16 is not used when its forward pass costs more than
    :attr:`AUTO_MAX_COST` of float32 (checked once, at start-up), and otherwise only while
    ``bf16_cost + REFINE_WEIGHT * (recent share of windows near triggers)`` (the estimated time
    relative to float32) is at most 1; see :meth:`update`. An explicit ``bf16`` is never dropped.

    Parameters
    ----------
    exact
        The float32 pass (None: the torch model).
    bf16
        The compiled bf16 pass (None: float32 only).
    auto
        Whether bf16 is switched on and off per input (``precision="auto"``).
    bf16_cost
        Time of the bf16 pass relative to the float32 pass (None without a bf16 pass).

    Attributes
    ----------
    active
        The pass the next input runs first: ``bf16`` or None (float32 only).
    """

    #: ``precision="auto"`` keeps bf16 only when its forward pass costs at most this fraction of float32
    AUTO_MAX_COST = 0.75
    #: time of a refined window relative to a float32 window (its forward pass plus the extra copies and
    #: bookkeeping), measured with benchmarks/bench_pick.py (see docs/deploy.md)
    REFINE_WEIGHT = 1.7
    #: half-life of the window counts of :meth:`update` (about a PhaseNet station-day) ...
    HALF_LIFE_WINDOWS = 5000
    #: ... and the windows seen before the first switch
    MIN_WINDOWS = 1000

    def __init__(self, exact: Forward | None, bf16: Forward | None, auto: bool, bf16_cost: float | None) -> None:
        self.exact = exact
        self.bf16 = bf16
        self.auto = auto
        self.bf16_cost = bf16_cost
        self.active = bf16
        self._counts = (0.0, 0.0)  # decayed (windows, hot windows)

    @property
    def backend(self) -> str:
        """Runtime of the float32 pass: ``torch``, ``onnx`` or ``openvino``."""
        return self.exact.backend if self.exact is not None else "torch"

    @property
    def precision(self) -> str:
        """``bf16`` while a bf16 first pass is in use, else ``fp32``."""
        return "bf16" if self.active is not None else "fp32"

    @property
    def measuring(self) -> bool:
        """True when float32 runs but the hot share is still measured (``auto`` may switch bf16 back on)."""
        return self.auto and self.active is None and self.bf16 is not None

    def update(self, windows: int, hot: int) -> None:
        """``auto``: choose bf16 or float32 for the next inputs from the recent share of hot windows.

        ``hot`` windows are the ones bf16 sends (or, in float32 mode, would send) back to float32. The
        counts decay with a half-life of :attr:`HALF_LIFE_WINDOWS`, so a busy day (an aftershock
        sequence) switches bf16 off and quiet days switch it on again. bf16 is used while
        ``bf16_cost + REFINE_WEIGHT * hot share`` is at most 1, once :attr:`MIN_WINDOWS` windows have
        been seen.
        """
        if not self.auto:
            return
        keep = 0.5 ** (windows / self.HALF_LIFE_WINDOWS)
        self._counts = (keep * self._counts[0] + windows, keep * self._counts[1] + hot)
        seen, recent_hot = self._counts
        if seen < self.MIN_WINDOWS:
            return
        use = self.bf16_cost + self.REFINE_WEIGHT * recent_hot / seen <= 1.0
        if use != (self.active is not None):
            log.info("recent share of windows near triggers %.0f%%: using %s", 100 * recent_hot / seen,
                     "bf16 with float32 refinement" if use else "float32")
        self.active = self.bf16 if use else None


def choose_passes(model: Any, in_channels: int, argdict: dict[str, Any], device: torch.device, backend: str,
                  precision: str, refine_margin: float, thresholds: np.ndarray, run_batch: RunBatch,
                  batch_size: int, stats: dict[str, Any]) -> Passes:
    """Build and time the float32 and bf16 passes for ``backend`` and ``precision``.

    Candidates are timed on one batch of at most 256 random windows (:func:`time_pass`); the bf16 cost
    reuses the float32 timing when there was one. ``stats`` gets ``fp32_pass_s`` (seconds per float32
    candidate, when several were timed) and ``bf16_cost`` (bf16/float32 forward time, with a bf16 pass).
    With ``precision="auto"`` a bf16 pass costing more than :attr:`Passes.AUTO_MAX_COST` is dropped.
    The timings are kept in the on-disk cache (:mod:`~seisforge.deploy.runtimes.cache`): a later process
    with the same weights, settings, software and CPU builds only the runtime chosen and times nothing.
    """
    n = min(batch_size, 256)

    def time_one(net: Forward | None) -> float:
        return time_pass(run_batch, net, n, in_channels, model.in_samples)

    key = cache.key_of("passes", weights=cache.weights_hash(model), backend=backend, precision=precision,
                       device=str(device), batch=n, threads=torch.get_num_threads(), in_channels=in_channels,
                       argdict=sorted(map(repr, argdict.items())))
    known = cache.cached_json(key) or {}
    exact, times = exact_pass(model, in_channels, argdict, device, backend, time_one, known.get("fp32_pass_s"))
    if times:
        stats["fp32_pass_s"] = {k: round(v, 4) for k, v in times.items()}
    bf16 = bf16_pass(model, in_channels, argdict, device, precision, refine_margin, thresholds)
    cost = None
    if bf16 is not None:
        cost = known.get("bf16_cost")
        if cost is None:
            exact_time = min(times.values()) if times else time_one(exact)
            cost = time_one(bf16) / exact_time
        stats["bf16_cost"] = cost
    if not known and (times or cost is not None):
        cache.store_json(key, {"fp32_pass_s": times, "bf16_cost": cost})
    if bf16 is not None and precision == "auto" and cost > Passes.AUTO_MAX_COST:
        log.info("bf16 forward pass costs %.2f of float32 for %s; using float32", cost, type(model).__name__)
        bf16 = None
    return Passes(exact, bf16, precision == "auto", cost)
