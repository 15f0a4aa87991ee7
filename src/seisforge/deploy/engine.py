"""Fast batched picking that reproduces SeisBench ``annotate``/``classify`` for array pickers.

:class:`FastPicker` ties the steps together: stream -> blocks (:mod:`~seisforge.deploy.blocks`, SeisBench's
own stream-level rules), windows -> per-block predictions (:mod:`~seisforge.deploy.inference`, in the
float32 and bf16 passes chosen by :mod:`~seisforge.deploy.precision`, with the float32 refinement of
:mod:`~seisforge.deploy.refine` after a bf16 pass), stacking, and triggers -> picks
(:mod:`~seisforge.deploy.triggers`, ObsPy's ``trigger_onset`` straight from the arrays).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import obspy
import torch

from seisforge import seisbench_compat as sbc
from seisforge.deploy.blocks import Block, stream_blocks
from seisforge.deploy.inference import Annotation, BatchCallback, Job, WindowRunner, block_jobs, stack
from seisforge.deploy.precision import choose_passes
from seisforge.deploy.refine import Refinement
from seisforge.deploy.scratch import ScratchPool
from seisforge.deploy.triggers import Pick, threshold, trigger_picks
from seisforge.errors import ConfigError


def annotate_argdict(model: Any, batch_size: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """SeisBench's annotate arguments: the model's ``default_args``, overridden by the set ``kwargs``."""
    argdict: dict[str, Any] = dict(model.default_args)
    argdict.update({k: v for k, v in kwargs.items() if v is not None})
    argdict["batch_size"] = int(batch_size)
    return argdict


class FastPicker:
    """Batched, SeisBench-equivalent picking with a SeisBench array model.

    Parameters
    ----------
    model
        A loaded SeisBench ``WaveformModel`` with ``output_type == "array"`` whose forward pass returns
        one tensor (PhaseNet, PhaseNetLight and relatives).
    batch_size
        Windows per forward pass.
    device
        Torch device string (``cpu``, ``cuda``).
    backend
        Runtime of the float32 pass: ``torch``, ``onnx`` (ONNX Runtime, CPU), ``openvino`` (OpenVINO
        in float32, CPU) or ``auto``: on the CPU, whichever of ONNX Runtime and OpenVINO is installed,
        and when both are, the faster one in a timing at start-up; else torch. All give the torch
        outputs to float rounding.
    precision
        ``fp32``: every window in float32 (see ``backend``). ``bf16``: every window first runs in
        bfloat16 through OpenVINO (faster on CPUs with native bf16), then every window overlapping a
        run of samples that could belong to a trigger is recomputed in float32 and the block restacked
        (see :class:`~seisforge.deploy.refine.Refinement`). The trigger regions, and so the picks, are
        then computed from float32 windows only, as long as the bf16 error stays below
        ``refine_margin``; the refined windows measure that error, and if it exceeds half the margin
        the whole input is recomputed in float32 (``stats["fallbacks"]``). ``auto``: ``bf16`` on CPU
        when OpenVINO is installed, reports native bf16 and a timing at start-up shows bf16 to be
        faster, while the recent share of windows near triggers is small enough for it to pay (see
        :class:`~seisforge.deploy.precision.Passes`); else ``fp32``. Either way the picks are the
        float32 picks.
    refine_margin
        Probability margin of the bf16 refinement (default 0.1, well above the largest bf16 error
        measured below the cut; see ``docs/deploy.md``).
    **kwargs
        Annotate/classify arguments exactly as SeisBench takes them (``overlap``, ``blinding``,
        ``stacking``, ``P_threshold``, ``S_threshold``, ``strict``, ...). They override the model's
        ``default_args`` like in SeisBench.

    Attributes
    ----------
    stats
        Running counts: ``windows`` (model windows of all inputs), ``refined_windows`` (recomputed in
        float32 after bf16), ``max_bf16_error`` seen on those where bf16 was below the refinement cut
        (the error the margin must exceed), ``fallbacks`` (inputs recomputed entirely in float32) and,
        with bf16, ``bf16_cost`` (measured bf16/float32 forward time).
    passes
        The float32 and bf16 passes (:class:`~seisforge.deploy.precision.Passes`).
    refinement
        The bf16 refinement (:class:`~seisforge.deploy.refine.Refinement`).
    """

    def __init__(self, model: Any, batch_size: int = 256, device: str = "cpu", backend: str = "auto",
                 precision: str = "fp32", refine_margin: float = 0.1, **kwargs: Any) -> None:
        if getattr(model, "output_type", None) != "array":
            raise ConfigError(
                f"{type(model).__name__} is not an array picker (output_type={model.output_type!r}); "
                "seisforge pick supports SeisBench array models such as PhaseNet"
            )
        if sbc.grouping(model) != "instrument":
            raise ConfigError(f"{type(model).__name__}: only instrument grouping is supported")
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.argdict = annotate_argdict(model, self.batch_size, kwargs)
        self.labels = list(model.labels)
        #: the output channels that are phases (not noise ``N``); only these are stacked and picked
        self._phase_channels = [i for i, label in enumerate(self.labels) if label != "N"]
        self.phases = [self.labels[i] for i in self._phase_channels]
        self._block_pool, self._pred_pool = ScratchPool(), ScratchPool()  # reused across calls
        self.in_channels = getattr(model, "in_channels", len(model.component_order))
        self.stats: dict[str, Any] = {"windows": 0, "refined_windows": 0, "max_bf16_error": 0.0, "fallbacks": 0}
        self.inference = WindowRunner(self.model, self.argdict, self.device, self.batch_size, self._phase_channels,
                                    self._pred_pool)
        thresholds = np.array([self.threshold(p) for p in self.phases])
        self.refinement = Refinement(self.model, thresholds, self._phase_channels, float(refine_margin))
        self.passes = choose_passes(self.model, self.in_channels, self.argdict, self.device, backend, precision,
                                    self.refinement.margin, thresholds, self.inference.run_net, self.batch_size,
                                    self.stats)

    @property
    def backend(self) -> str:
        """Runtime of the float32 pass: ``torch``, ``onnx`` or ``openvino``."""
        return self.passes.backend

    @property
    def precision(self) -> str:
        """``bf16`` while the bf16 first pass is in use, else ``fp32``."""
        return self.passes.precision

    def threshold(self, phase: str) -> float:
        """Trigger threshold of ``phase`` (argument, else model default, else SeisBench's 0.3)."""
        return threshold(self.model, self.argdict, phase)

    def blocks(self, stream: obspy.Stream) -> list[Block]:
        """Group a stream into continuous per-instrument blocks with SeisBench's rules (a copy).

        The block arrays stay valid until the next call (they are reused), so a ``FastPicker`` is not
        re-entrant: one thread at a time, as in ``seisforge pick``.
        """
        self._block_pool.reset()  # the previous call's block arrays are no longer referenced
        return stream_blocks(self.model, self.argdict, stream, self._block_pool)

    def annotate(self, blocks: list[Block]) -> list[Annotation]:
        """Run the model on all windows of all blocks (batched across blocks) and stack per block.

        With a bf16 pass in use, the windows near possible triggers are then recomputed in float32; in
        ``auto`` precision the share of such windows decides whether the next input uses bf16.
        """
        jobs = block_jobs(blocks)
        self.stats["windows"] += len(jobs)
        passes, hot = self.passes, self.refinement.collector()
        if passes.active is None and not passes.measuring:  # float32 only: stack as the windows come out
            return self.inference.annotate(passes.exact, blocks, jobs)
        per_block: dict[int, np.ndarray] = {}
        self._pred_pool.reset()  # the previous call's prediction arrays are no longer referenced

        def exact(todo: list[Job], on_batch: BatchCallback | None = None) -> None:
            self.inference.run(passes.exact, blocks, todo, per_block, on_batch=on_batch)

        if passes.active is not None:
            refined = self.stats["refined_windows"]
            self.inference.run(passes.bf16, blocks, jobs, per_block, on_batch=hot)
            self.refinement.refine(blocks, per_block, hot.runs, exact, self.stats)
            passes.update(len(jobs), self.stats["refined_windows"] - refined)
        else:  # float32 for now; keep measuring the hot share
            exact(jobs, on_batch=hot)
            passes.update(len(jobs), len(self.refinement.hot_windows(blocks, per_block, hot.runs)))
        return [stack(self.model, self.argdict, b, per_block.pop(bi)) for bi, b in enumerate(blocks)
                if bi in per_block]

    def picks(self, annotations: list[Annotation]) -> list[Pick]:
        """Trigger picks per phase exactly as ``picks_from_annotations`` does, without ObsPy traces."""
        return trigger_picks(annotations, {phase: self.threshold(phase) for phase in self.phases})

    def classify(self, stream: obspy.Stream) -> list[Pick]:
        """Stream in, picks out: the equivalent of SeisBench ``classify(stream, **kwargs).picks``."""
        return self.picks(self.annotate(self.blocks(stream)))
