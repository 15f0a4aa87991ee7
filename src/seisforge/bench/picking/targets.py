"""Evaluation targets in pick-benchmark's format (Münchmeyer et al., 2022).

``task1.csv`` (detection, 30 s windows) and ``task23.csv`` (phase identification and onset time, 10 s
windows around isolated arrivals) keep pick-benchmark's columns (listed, with the reader
:func:`~seisforge.data.targets_io.load_targets`, in :mod:`seisforge.data.targets_io`)
and add ``trace_chunk``, ``trace_dataset`` and ``source_id`` so traces are keyed uniquely and bootstrap
resampling can be done by event. The window selection follows pick-benchmark's
``generate_eval_targets.py``: task-1 earthquake windows contain the first arrival at least 100 samples
from either edge, noise windows come from traces without arrivals and from before the first arrival;
task-2/3 windows contain exactly one arrival, at a random position at least 50 samples from either edge
(not centred), with neighbouring arrivals at least 0.5 s outside the isolation interval.

Two generators share that logic (``generator=``):

``"seisforge"`` (default)
    A NumPy ``Generator`` per task (``seed`` and ``seed + 1``), any ``splits``, traces at other
    sampling rates rescaled arithmetically, and noise windows placed before the first of *all* labels.
``"pick-benchmark"``
    The same random calls, in the same order, as ``generate_eval_targets.py`` (the legacy global
    ``RandomState`` re-seeded for each task, float window lengths, traces resampled by SeisBench,
    ``trace_idx`` counted in the dev/test subset, windows of at most 100 samples dropped), so the same
    dataset and seed give the same windows as the published targets.

Both follow pick-benchmark's ``phase_dict``: second-event labels (``trace_p2/s2_arrival_sample``) are
not targets unless ``second_event_targets``. In both, a noise window never overlaps a labelled arrival
(second events included), and a trace with a label outside ``[0, n_samples)`` (a *flagged pick*: the
real arrival is somewhere else; also a trace whose ``trace_label_qc`` says ``data convert`` emptied such a
pick) gives no noise window; such windows are dropped and counted.

``noise_after_events`` (seisforge generator only; off by default, so the default targets stay those of
pick-benchmark's rules) adds a task-1 noise window to every earthquake trace with a P and an S label when
a full window fits after the **last label plus a guard** (seconds): for datasets without noise traces and
without room for a pre-event window (the NCEDC PhaseNet sample: P always at 30 s). Such windows hold the
S coda's tail and are not pick-benchmark noise windows; ``task1.csv`` then gets a ``window_source`` column
(:data:`WINDOW_SOURCES`) so that reports can say where each noise window came from. They are drawn with
their own generator (``seed + 2``), so all other windows are the default ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from seisforge.data.sources import open_dataset, phase_columns
from seisforge.data.targets_io import write_targets
from seisforge.errors import ConfigError, DataError
from seisforge.runinfo import RunReport

GENERATORS = ("seisforge", "pick-benchmark")
SECOND_EVENT_COLUMNS = ("trace_p2_arrival_sample", "trace_s2_arrival_sample")
Draw = Callable[[float, float], int]
#: ``window_source`` of task-1 rows (written with ``noise_after_events``): earthquake window, noise from a
#: trace without targets, noise before the first label, noise after the last label plus the guard
WINDOW_SOURCES = ("first_arrival", "noise_trace", "pre_event", "post_event")


def select_window_containing(
    draw: Draw, npts: float, windowlen: float, containing: float | None = None,
    bounds: tuple[int, int] = (100, 100),
) -> tuple[float, float]:
    """pick-benchmark's window selection: a random ``windowlen`` window, optionally containing a sample.

    ``draw(low, high)`` returns a random integer in ``[low, high)``. Returns the full trace when it is
    not longer than ``windowlen`` or no valid start exists (the comparison is made before any rounding,
    as pick-benchmark does).
    """
    if npts <= windowlen:
        return 0, npts
    if containing is None:
        start = draw(0, npts - windowlen + 1)
        return start, start + windowlen
    earliest = max(0, containing - windowlen + bounds[1])
    latest = min(npts - windowlen, containing - bounds[0])
    if latest <= earliest:
        return 0, npts
    start = draw(earliest, latest + 1)
    return start, start + windowlen


def _numpy_draw(rng: np.random.Generator) -> Draw:
    return lambda low, high: int(rng.integers(int(low), int(high)))


def _legacy_draw(rs: np.random.RandomState) -> Draw:
    """``np.random.randint`` as pick-benchmark calls it (float bounds are truncated by NumPy)."""
    return lambda low, high: int(rs.randint(low, high))


def _labels(row: dict, cols: dict[str, str], scale: float, npts: int,
            second_event_targets: bool) -> tuple[list[tuple[float, str, str]], list[float], int]:
    """``(targets, all_labels_in_trace, n_flagged)`` of one trace, in samples at the target rate.

    Targets are the labelled arrivals inside ``[0, npts)`` that pick-benchmark's ``phase_dict`` knows
    (plus second events with ``second_event_targets``); all labels include second events; flagged
    picks are labels outside the trace, plus one for a ``trace_label_qc`` flag left by ``data convert``
    (a pick it emptied: the real arrival is still in the trace somewhere).
    """
    targets, labels, flagged = [], [], 0
    if "pick_outside_trace" in str(row.get("trace_label_qc") or ""):
        flagged += 1
    for col, phase in cols.items():
        v = row.get(col)
        if v is None or not np.isfinite(v):
            continue
        v = float(v) * scale
        if not 0 <= v < npts:
            flagged += 1
            continue
        labels.append(v)
        if second_event_targets or col not in SECOND_EVENT_COLUMNS:
            targets.append((v, phase, col.split("_")[1]))
    return sorted(targets), labels, flagged


def _noise_ok(window: dict, labels: list[float], flagged: int, report: RunReport) -> bool:
    """Whether a noise window may be kept: no label inside it and no flagged pick on its trace (counted)."""
    if flagged:
        report.skip("noise_window_trace_has_flagged_pick")
        return False
    if any(window["start_sample"] <= v < window["end_sample"] for v in labels):
        report.skip("noise_window_overlaps_label")
        return False
    return True


def _task1_windows(draw: Draw, targets: list, labels: list[float], flagged: int, npts: float, w1: float,
                   noise_before_events: bool, report: RunReport, noise_before: float | None = None) -> list[dict]:
    """Task-1 windows of one trace: noise without targets; else one containing the first target and,
    with ``noise_before_events``, a noise window before ``noise_before`` (default: the first target)."""
    out = []
    if not targets:
        s0, e0 = select_window_containing(draw, npts, w1)
        out.append({"start_sample": s0, "end_sample": e0, "trace_type": "noise", "window_source": "noise_trace"})
    else:
        first = min(a[0] for a in targets)
        s0, e0 = select_window_containing(draw, npts, w1, containing=first)
        if e0 - s0 <= w1:
            out.append({"start_sample": s0, "end_sample": e0, "trace_type": "earthquake",
                        "window_source": "first_arrival"})
        before = first if noise_before is None else noise_before
        if noise_before_events and before > w1:
            s0, e0 = select_window_containing(draw, min(npts, before), w1)
            if e0 - s0 <= w1:
                out.append({"start_sample": s0, "end_sample": e0, "trace_type": "noise",
                            "window_source": "pre_event"})
    return [w for w in out if w["trace_type"] != "noise" or _noise_ok(w, labels, flagged, report)]


def _post_event_window(draw: Draw, targets: list, labels: list[float], flagged: int, npts: float, w1: int,
                       guard: int, report: RunReport) -> list[dict]:
    """The ``noise_after_events`` window of one trace: ``w1`` samples drawn after the last label + ``guard``.

    Only traces with a P and an S target get one (with the S label missing, the S arrival and its coda
    could fall in the window); a trace where no full window fits, or with a flagged pick, gets none
    (counted).
    """
    if not targets:
        return []
    if not {"P", "S"} <= {a[1] for a in targets}:
        report.skip("post_event_noise_needs_p_and_s_labels")
        return []
    earliest = int(np.ceil(max(labels))) + guard
    if npts - earliest < w1:
        report.skip("post_event_noise_window_does_not_fit")
        return []
    s0, e0 = select_window_containing(draw, npts - earliest, w1)
    window = {"start_sample": s0 + earliest, "end_sample": e0 + earliest, "trace_type": "noise",
              "window_source": "post_event"}
    return [window] if _noise_ok(window, labels, flagged, report) else []


def _task23_windows(draw: Draw, arrivals: list, npts: float, w23: float, min_gap: int,
                    report: RunReport) -> list[dict]:
    """Task-2/3 windows of one trace: one per arrival isolated from its neighbours by ``min_gap``."""
    out = []
    for i, (onset, phase, full) in enumerate(arrivals):
        before = 0 if i == 0 else int(arrivals[i - 1][0]) + min_gap
        after = np.inf if i == len(arrivals) - 1 else int(arrivals[i + 1][0]) - min_gap
        if after - before < w23 or before > onset or after < onset:
            report.skip("arrival_not_isolated")
            continue
        after = min(after, npts)
        s0, e0 = select_window_containing(draw, after - before, w23, containing=onset - before,
                                          bounds=(50, 50))
        s0, e0 = s0 + before, e0 + before
        if e0 - s0 <= w23:
            out.append({"start_sample": s0, "end_sample": e0, "phase_label": phase, "full_phase_label": full,
                        "phase_onset": onset})
        else:
            report.skip("no_window_isolates_arrival")
    return out


def generate_targets(
    dataset: str | Path,
    out: str | Path,
    seed: int = 42,
    sampling_rate: float = 100.0,
    splits: tuple[str, ...] = ("dev", "test"),
    noise_before_events: bool = True,
    generator: str = "seisforge",
    second_event_targets: bool = False,
    noise_after_events: float | None = None,
) -> RunReport:
    """Write ``task1.csv`` and ``task23.csv`` for ``dataset`` into ``out``.

    Parameters
    ----------
    dataset
        SeisBench dataset path or name.
    out
        Target folder (created).
    seed
        Seed of the window placement (pick-benchmark's script always uses 42).
    sampling_rate
        Sampling rate (Hz) the sample columns refer to; traces at other rates are rescaled.
    splits
        Which splits get targets (pick-benchmark evaluates ``dev`` and ``test``).
    noise_before_events
        Also take task-1 noise windows from before the first arrival.
    generator
        ``"seisforge"`` or ``"pick-benchmark"`` (see the module docstring).
    second_event_targets
        Also make second-event arrivals (``trace_p2/s2_arrival_sample``) task-2/3 targets and
        candidates for the first arrival of task 1; pick-benchmark's ``phase_dict`` ignores them.
    noise_after_events
        Guard in seconds: also cut a task-1 noise window after the last label + guard of each earthquake
        trace with P and S labels, and write ``window_source`` (see the module docstring). ``None``
        (default): pick-benchmark's noise windows only.
    """
    if generator not in GENERATORS:
        raise ConfigError(f"--generator must be one of {', '.join(GENERATORS)}, got {generator!r}")
    if not (np.isfinite(sampling_rate) and sampling_rate > 0):
        raise ConfigError(f"--sampling-rate must be a positive number of Hz, got {sampling_rate}")
    if noise_after_events is not None:
        if generator != "seisforge":
            raise ConfigError("--noise-after-events is a seisforge addition; the pick-benchmark generator "
                              "reproduces generate_eval_targets.py's windows only")
        if not (np.isfinite(noise_after_events) and noise_after_events >= 0):
            raise ConfigError(f"--noise-after-events must be a guard >= 0 s, got {noise_after_events}")
    out = Path(out)
    report = RunReport("bench targets")
    if generator == "pick-benchmark":
        task1, task23 = _pick_benchmark_rows(dataset, seed, sampling_rate, splits, noise_before_events,
                                             second_event_targets, report)
    else:
        task1, task23 = _seisforge_rows(dataset, seed, sampling_rate, splits, noise_before_events,
                                        second_event_targets, report, noise_after_events)
    out.mkdir(parents=True, exist_ok=True)
    extra = ["window_source"] if noise_after_events is not None else []
    t1, t23 = write_targets(out, task1, task23, task1_extra=extra)
    report.notes.update({
        "dataset": str(dataset), "seed": seed, "sampling_rate": sampling_rate, "splits": list(splits),
        "generator": generator, "second_event_targets": second_event_targets,
        "task1_rows": _counts(t1, "trace_type"), "task23_rows": _counts(t23, "phase_label"),
    })
    if noise_after_events is not None:
        report.notes["noise_after_events_s"] = float(noise_after_events)
        report.notes["task1_window_sources"] = _counts(t1, "window_source")
    report.write(out / "targets_report.json")
    return report


def _open(dataset, report: RunReport, **kwargs):
    """The dataset, its phase columns, checked for a ``split`` column."""
    ds = open_dataset(dataset, **kwargs)
    if "split" not in ds.metadata.columns:
        raise DataError(f"{dataset}: metadata has no 'split' column; assign splits first")
    cols = phase_columns(ds.metadata)
    if not cols:
        report.notes["warning"] = "no pick columns: all traces treated as noise; task23 is empty"
    return ds, cols


def _base(row: dict, idx: int, split: str, sampling_rate: float) -> dict:
    return {
        "trace_name": row["trace_name"], "trace_idx": idx, "trace_split": split, "sampling_rate": sampling_rate,
        "trace_chunk": row.get("trace_chunk", ""), "trace_dataset": row.get("trace_dataset", ""),
        "source_id": row.get("source_id", ""),
    }


def _seisforge_rows(dataset, seed: int, sampling_rate: float, splits: tuple[str, ...], noise_before_events: bool,
                    second_event_targets: bool, report: RunReport,
                    noise_after_events: float | None = None) -> tuple[list[dict], list[dict]]:
    """Rows of the default generator: one pass over the metadata, two NumPy generators (a third, for
    ``noise_after_events`` windows only, so that the others do not change)."""
    ds, cols = _open(dataset, report)
    draw1, draw23 = _numpy_draw(np.random.default_rng(seed)), _numpy_draw(np.random.default_rng(seed + 1))
    draw_post = _numpy_draw(np.random.default_rng(seed + 2))
    w1, w23 = int(30 * sampling_rate), int(10 * sampling_rate)
    task1, task23 = [], []
    for idx, row in enumerate(tqdm(ds.metadata.to_dict("records"), desc="targets", unit="trace")):
        split = str(row.get("split", ""))
        if split not in splits:
            report.skip(f"split_{split or 'missing'}_not_evaluated")
            continue
        scaled = _scaled_length(ds, idx, row, sampling_rate, report)
        if scaled is None:
            continue
        scale, npts = scaled
        base = _base(row, idx, split, sampling_rate)
        targets, labels, flagged = _labels(row, cols, scale, npts, second_event_targets)
        if flagged:
            report.handle("flagged_pick_ignored", row["trace_name"], n=flagged)
        before = min(labels) if labels else None
        task1 += [{**base, **w} for w in _task1_windows(draw1, targets, labels, flagged, npts, w1,
                                                         noise_before_events, report, noise_before=before)]
        if noise_after_events is not None:
            guard = int(round(noise_after_events * sampling_rate))
            task1 += [{**base, **w} for w in _post_event_window(draw_post, targets, labels, flagged, npts, w1,
                                                                 guard, report)]
        task23 += [{**base, **w} for w in _task23_windows(draw23, targets, npts, w23, int(0.5 * sampling_rate),
                                                          report)]
        report.processed += 1
    return task1, task23


def _pick_benchmark_rows(dataset, seed: int, sampling_rate: float, splits: tuple[str, ...],
                         noise_before_events: bool, second_event_targets: bool,
                         report: RunReport) -> tuple[list[dict], list[dict]]:
    """Rows of ``generate_eval_targets.py``: SeisBench resamples, the legacy RNG is seeded once per task,
    the traces are walked once per task, and windows of at most 100 samples are dropped."""
    ds, cols = _open(dataset, report, sampling_rate=sampling_rate)
    n_all = len(ds)
    ds.filter(ds.metadata["split"].isin(list(splits)).to_numpy(), inplace=True)
    if n_all > len(ds):
        report.skip("split_not_evaluated", n=n_all - len(ds))
    w1, w23 = 30 * sampling_rate, 10 * sampling_rate
    samples = []
    for i in tqdm(range(len(ds)), desc="targets", unit="trace"):
        wave, meta = ds.get_sample(i)
        npts = wave.shape[-1]
        targets, labels, flagged = _labels(meta, cols, 1.0, npts, second_event_targets)
        if flagged:
            report.handle("flagged_pick_ignored", meta["trace_name"], n=flagged)
        samples.append((_base(meta, i, str(meta.get("split", "")), sampling_rate), npts, targets, labels, flagged))
        report.processed += 1
    draw = _legacy_draw(np.random.RandomState(seed))
    task1 = [{**b, **w} for b, npts, t, lab, fl in samples
             for w in _task1_windows(draw, t, lab, fl, npts, w1, noise_before_events, report)]
    draw = _legacy_draw(np.random.RandomState(seed))
    task23 = [{**b, **w} for b, npts, t, _, _ in samples
              for w in _task23_windows(draw, t, npts, w23, int(0.5 * sampling_rate), report)]
    return _min_length(task1, report), _min_length(task23, report)


def _min_length(rows: list[dict], report: RunReport) -> list[dict]:
    """pick-benchmark keeps only windows longer than 100 samples."""
    kept = [r for r in rows if r["end_sample"] - r["start_sample"] > 100]
    if len(kept) < len(rows):
        report.skip("window_at_most_100_samples", n=len(rows) - len(kept))
    return kept


def _scaled_length(ds, idx: int, row: dict, sampling_rate: float, report: RunReport) -> tuple[float, int] | None:
    """``(scale, npts)`` of trace ``idx`` at ``sampling_rate``; None (counted) when it cannot be read or
    has no valid sampling rate."""
    try:
        wave = ds.get_waveforms(idx)
    except Exception as err:  # corrupt trace: count it, keep going
        report.fail("waveform_unreadable", f"{row['trace_name']}: {err}")
        return None
    sr = float(row.get("trace_sampling_rate_hz", sampling_rate))
    if not np.isfinite(sr) or sr <= 0:
        report.fail("unknown_sampling_rate", row["trace_name"])
        return None
    scale = sampling_rate / sr
    if scale != 1:
        report.handle(f"rescaled_from_{sr:g}Hz")
    return scale, int(wave.shape[-1] * scale)


def _counts(table: pd.DataFrame, kind: str) -> dict[str, int]:
    """Rows per ``split/kind`` for the report."""
    if not len(table):
        return {}
    return {"/".join(k): v for k, v in table.groupby(["trace_split", kind]).size().to_dict().items()}
