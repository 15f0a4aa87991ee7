"""Float32 refinement of a bf16 first pass: recompute the windows that could carry a trigger.

For each phase with threshold ``t``, a sample is *hot* when some window's bf16 curve reaches
``t / 2 - margin`` there and a *seed* when it reaches ``t - margin``; every window overlapping a run of
consecutive hot samples that contains a seed is recomputed in float32 and the block restacked
(:meth:`Refinement.refine` gives the argument why the picks are then the float32 picks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from seisforge.deploy.blocks import Block
from seisforge.deploy.inference import Job, pred_offsets

log = logging.getLogger(__name__)

#: per block, one entry per (batch, phase): ``(phase, run windows, run starts, run ends (exclusive),
#: seed windows, seed samples)`` in window coordinates
HotRunEntries = dict[int, list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]


def windows_covering(starts: np.ndarray, width: int, spans: np.ndarray) -> np.ndarray:
    """Indices of the windows that overlap any span.

    Parameters
    ----------
    starts
        Sorted window start samples; window ``w`` covers ``[starts[w], starts[w] + width)``.
    width
        Window length in samples.
    spans
        ``(k, 2)`` integer rows ``(first, last)``: samples ``first..last`` (inclusive), in the same
        coordinates as ``starts``.

    Returns
    -------
    numpy.ndarray
        Sorted unique window indices.
    """
    starts = np.asarray(starts, dtype=np.int64)
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    if len(spans) == 0:
        return np.zeros(0, dtype=np.intp)
    lo, hi = spans[:, 0], spans[:, 1]
    # w overlaps [lo, hi] when starts[w] <= hi and starts[w] + width > lo (starts and ends are sorted)
    first = np.searchsorted(starts + width, lo, side="right")
    stop = np.searchsorted(starts, hi, side="right")
    marks = np.zeros(len(starts) + 1, dtype=np.int64)
    np.add.at(marks, first, 1)
    np.add.at(marks, stop, -1)
    return np.flatnonzero(np.cumsum(marks)[:-1] > 0)


def seeded_runs(lo: np.ndarray, hi: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The runs of samples covered by spans ``lo..hi`` (inclusive) that contain a seed sample.

    Overlapping or adjacent spans join into one run; a gap of at least one uncovered sample starts a
    new one. Returns ``(k, 2)`` rows ``(first, last)``.
    """
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    reach = np.maximum.accumulate(hi)
    new = np.ones(len(lo), dtype=bool)
    new[1:] = lo[1:] > reach[:-1] + 1  # a gap of at least one cold sample starts a new run
    first = np.flatnonzero(new)
    run_lo, run_hi = lo[first], np.append(reach[first[1:] - 1], reach[-1])
    which = np.searchsorted(run_lo, seeds, side="right") - 1
    keep = np.zeros(len(run_lo), dtype=bool)
    keep[which[(which >= 0) & (seeds <= run_hi[np.maximum(which, 0)])]] = True
    return np.stack([run_lo[keep], run_hi[keep]], axis=1)


class HotRuns:
    """Batch callback: per block and phase, each window's runs of hot samples and its seed samples.

    A sample of a window is *hot* for a phase when the window's curve reaches ``hot_cut`` there and a
    *seed* when it reaches ``seed_cut`` (NaN, i.e. blinded, samples are neither). :attr:`runs` collects
    :data:`HotRunEntries`; see :meth:`Refinement.hot_windows`.
    """

    def __init__(self, hot_cut: np.ndarray, seed_cut: np.ndarray, phase_channels: list[int]) -> None:
        self.hot_cut, self.seed_cut, self.phase_channels = hot_cut, seed_cut, phase_channels
        self.runs: HotRunEntries = {}

    def __call__(self, chunk: list[Job], preds: np.ndarray) -> None:
        index = np.array([(bi, wi) for bi, wi, _ in chunk], dtype=np.int64)
        for k, c in enumerate(self.phase_channels):
            curve = preds[:, :, c]
            hot = curve >= self.hot_cut[k]
            rows = np.flatnonzero(hot.any(axis=1))
            if not len(rows):
                continue
            edges = np.diff(hot[rows].astype(np.int8), axis=1, prepend=0, append=0)
            r_on, col_on = np.nonzero(edges == 1)
            _, col_off = np.nonzero(edges == -1)  # row-major order: pairs with the starts
            r_seed, col_seed = np.nonzero(curve[rows] >= self.seed_cut[k])
            for bi in np.unique(index[rows, 0]):
                on_b, seed_b = index[rows[r_on], 0] == bi, index[rows[r_seed], 0] == bi
                self.runs.setdefault(int(bi), []).append((
                    k, index[rows[r_on[on_b]], 1], col_on[on_b], col_off[on_b],
                    index[rows[r_seed[seed_b]], 1], col_seed[seed_b]))


class Refinement:
    """Which windows of a bf16 pass to recompute in float32, and the recomputation with its self-check.

    Parameters
    ----------
    model
        The SeisBench model (prediction geometry).
    thresholds
        Trigger threshold of each phase channel.
    phase_channels
        The model output channels of the phases, in the order of ``thresholds``.
    margin
        Probability margin; the picks are the float32 picks as long as every bf16 error stays below it.

    Attributes
    ----------
    hot_cut, seed_cut
        Per phase, ``threshold / 2 - margin`` and ``threshold - margin``.
    """

    def __init__(self, model: Any, thresholds: np.ndarray, phase_channels: list[int], margin: float) -> None:
        self.model = model
        self.phase_channels = phase_channels
        self.margin = margin
        self.hot_cut, self.seed_cut = thresholds / 2 - margin, thresholds - margin

    def collector(self) -> HotRuns:
        """A fresh batch callback that collects the hot runs of one input."""
        return HotRuns(self.hot_cut, self.seed_cut, self.phase_channels)

    def hot_windows(self, blocks: list[Block], per_block: dict[int, np.ndarray], runs: HotRunEntries) -> list[Job]:
        """``(block, window, offset)`` of every window to recompute in float32 (see :meth:`refine`).

        Per block and phase, the hot runs of all windows are merged into the runs of samples where
        *any* window is hot (overlapping or adjacent runs join); the runs that contain a seed sample
        are kept, and every window overlapping a kept run is returned.
        """
        jobs = []
        for bi, items in runs.items():
            starts = pred_offsets(self.model, blocks[bi], per_block[bi])
            spans = []
            for k in {item[0] for item in items}:
                mine = [item for item in items if item[0] == k]
                lo = np.concatenate([starts[i[1]] + i[2] for i in mine])
                hi = np.concatenate([starts[i[1]] + i[3] - 1 for i in mine])
                seeds = np.concatenate([starts[i[4]] + i[5] for i in mine])
                if len(seeds):
                    spans.append(seeded_runs(lo, hi, seeds))
            if spans:
                touched = windows_covering(starts, per_block[bi].shape[1], np.concatenate(spans))
                jobs += [(bi, int(wi), int(blocks[bi].offsets[wi])) for wi in touched]
        return jobs

    def refine(self, blocks: list[Block], per_block: dict[int, np.ndarray], runs: HotRunEntries,
               rerun: Callable[[list[Job]], None], stats: dict[str, Any]) -> None:
        """Recompute in float32 every window that overlaps a hot run containing a seed.

        For each phase with threshold ``t``, a sample is hot when some window's bf16 curve reaches
        ``t / 2 - margin`` there and a seed when it reaches ``t - margin``; the runs of
        consecutive hot samples that contain a seed are recomputed (all windows overlapping them).
        With bf16 errors below the margin this gives the float32 picks: a trigger turns on where the
        stacked float32 curve exceeds ``t``, so some window exceeds ``t`` there (a seed); it stays on
        while the curve exceeds ``t / 2``, so every sample of it is hot and it lies in one hot run,
        which is then float32 throughout; it ends at the first sample at or below ``t / 2``, and a
        sample that is not hot stays below ``t / 2`` whichever windows are float32. Hot runs without a
        seed stay below ``t`` and start no trigger. The refined windows measure the bf16 error on all
        their samples below the seed cut; above half the margin, the input is recomputed in float32.

        Parameters
        ----------
        blocks, per_block
            The blocks and their ``(windows, samples, phases)`` bf16 predictions, updated in place.
        runs
            The :class:`HotRuns` entries of the bf16 pass.
        rerun
            Runs the float32 pass on jobs into ``per_block``.
        stats
            Running counts: ``refined_windows``, ``max_bf16_error`` and ``fallbacks`` are updated.
        """
        jobs = self.hot_windows(blocks, per_block, runs)
        if not jobs:
            return
        approx = np.stack([per_block[bi][wi] for bi, wi, _ in jobs])
        rerun(jobs)
        stats["refined_windows"] += len(jobs)
        exact = np.stack([per_block[bi][wi] for bi, wi, _ in jobs])
        cold = approx < self.seed_cut  # (windows, samples, phases) against the per-phase seed cut
        err = float(np.max(np.abs(exact[cold] - approx[cold]), initial=0.0))
        stats["max_bf16_error"] = max(stats["max_bf16_error"], err)
        if err > self.margin / 2:
            log.warning("bf16 error %.3g exceeds half the refinement margin %.3g; recomputing in float32",
                        err, self.margin)
            stats["fallbacks"] += 1
            rerun([(bi, wi, off) for bi in per_block for wi, off in enumerate(blocks[bi].offsets)])
