"""Run station-day units: in this process, or as Ray tasks with retries.

:func:`process_unit` is the whole per-unit pipeline (load -> sanitise -> pick -> write atomically) and
is what a Ray task runs; results are identical in both modes because units are independent and each
writes only its own Parquet file and state file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import obspy

from seisforge import seisbench_compat as sbc
from seisforge.data.continuous.sources import StationDay, load_unit
from seisforge.deploy.settings import PickSettings
from seisforge.runinfo import RunReport

log = logging.getLogger(__name__)


_CACHE: dict[PickSettings, tuple[Any, str, Any]] = {}  # settings -> (FastPicker, LoadedModel.source, .card)


def get_picker(settings: PickSettings):
    """Load (once per process) the model and wrap it in a :class:`FastPicker` (a ``stalta`` spec: in a
    :class:`~seisforge.deploy.stalta_stream.StaLtaStreamPicker`)."""
    return _loaded_picker(settings)[0]


def model_card(settings: PickSettings):
    """The model card that came with the settings' model (None when it has none, e.g. SeisBench weights)."""
    return _loaded_picker(settings)[2]


def _loaded_picker(settings: PickSettings) -> tuple[Any, str, Any]:
    cached = _CACHE.get(settings)
    if cached is None:
        import torch

        from seisforge.deploy.engine import FastPicker
        from seisforge.deploy.memory import keep_freed_memory
        from seisforge.deploy.stalta_stream import StaLtaStreamPicker
        from seisforge.models.registry import load_model, parse_spec
        from seisforge.runinfo import seed_everything

        if settings.threads:
            torch.set_num_threads(settings.threads)
        keep_freed_memory()  # a picking process reuses its large buffers instead of page-faulting them daily
        seed_everything(0)  # a random-init model (speed tests) is then the same in every process
        loaded = load_model(settings.model, weights=settings.weights, pretrained=settings.pretrained,
                            allow_random=settings.random_init)
        if loaded.card is not None and loaded.card.task != "picking":
            from seisforge.errors import ConfigError

            raise ConfigError(f"{settings.model} is a {loaded.card.task} model (outputs {loaded.card.outputs}), "
                              "not a phase picker; seisforge pick needs a picking model")
        if parse_spec(settings.model).kind == "stalta":  # classical: continuous triggers, no windows
            picker = StaLtaStreamPicker(loaded.model, **settings.pick_kwargs())
        else:
            picker = FastPicker(loaded.model, batch_size=settings.batch_size, device=settings.device,
                                backend=settings.backend, precision=settings.precision, **settings.pick_kwargs())
        cached = (picker, loaded.source, loaded.card)
        _CACHE.clear()
        _CACHE[settings] = cached
    return cached


def model_version(settings: PickSettings) -> str:
    """Human-readable weights identity of the settings' model: source and SeisBench weights version."""
    source = _loaded_picker(settings)[1]
    if source == "random-init" or source.startswith("pretrained:"):
        return source
    head, _, tail = source.partition(" ")
    return (Path(head).name + " " + tail).strip()


def pad_seconds(picker) -> float:
    """Data loaded beyond each side of a day: one model window plus a margin."""
    return 2.0 * picker.model.in_samples / picker.model.sampling_rate + 1.0


def covered_seconds(stream, t0: float, t1: float) -> float:
    """Seconds of ``[t0, t1)`` with data, summed over instruments (union over their components)."""
    from seisforge.data.continuous.quality import union_seconds

    spans: dict[str, list[tuple[float, float]]] = {}
    for tr in stream:
        a = max(tr.stats.starttime.timestamp, t0)
        b = min(tr.stats.endtime.timestamp + tr.stats.delta, t1)
        if b > a:
            spans.setdefault(tr.id.rsplit(".", 1)[0], []).append((a, b))
    return float(sum(union_seconds(items) for items in spans.values()))


@dataclass
class Prepared:
    """A unit's data after loading and clean-up, ready for the model."""

    stream: Any
    report: RunReport
    problems: list[tuple[str, str, str]]
    data_seconds: float
    seconds: float
    valid_seconds: float = 0.0


def align_cut_start(stream, cut: float, picker) -> None:
    """Move starts that our day padding cut (at ``cut``) forward to the global window grid.

    SeisBench places windows every ``in_samples - overlap`` samples from the start of each continuous
    block. Where a block starts only because the unit's padding cut it, its start is moved to the next
    multiple of that stride since the epoch, so consecutive station-days share one window grid and the
    picks do not depend on where the archive was split. Applies to traces at the model's rate; starts
    that are real data starts (after a gap, or the start of the recording) are kept.
    """
    fs = picker.model.sampling_rate
    if not fs or not getattr(picker, "windowed", True):  # continuous STA/LTA has no window grid
        return
    stride = picker.model.in_samples - sbc.window_overlap(picker.model, picker.model.in_samples, picker.argdict)
    for tr in stream:
        start = tr.stats.starttime.timestamp
        if abs(start - cut) <= 1.0 / tr.stats.sampling_rate and tr.stats.sampling_rate == fs:
            n = int(np.ceil(round(start * fs, 3) / stride)) * stride
            tr.trim(starttime=obspy.UTCDateTime(n / fs), nearest_sample=True)


def prepare_unit(unit: StationDay, settings: PickSettings) -> Prepared:
    """Load and clean one unit (I/O and ObsPy work; runs in a prefetch thread in serial mode)."""
    from seisforge.data.continuous.preprocess import check_against_card, sanitize
    from seisforge.data.continuous.quality import assess_quality

    t_start = time.time()
    picker = get_picker(settings)
    report = RunReport(command="unit")
    problems: list[tuple[str, str, str]] = []
    stream = load_unit(unit, pad_seconds(picker), problems)
    data_seconds = valid_seconds = 0.0
    if len(stream) == 0:
        report.skip("no_data", unit.key)
    else:
        card = model_card(settings)
        if card is not None:  # per instrument: rate resampled, horizontals zero-filled, a missing Z/H skipped
            stream = check_against_card(stream, card, report, unit.key)
        stream = sanitize(stream, picker.model, report, unit.key, strict=settings.strict)
        valid_seconds = assess_quality(stream, unit.t0.timestamp, unit.t1.timestamp, report, unit.key)
        align_cut_start(stream, (unit.t0 - pad_seconds(picker)).timestamp, picker)
        stream = obspy.Stream([tr for tr in stream if tr.stats.npts > 0])
        if len(stream) == 0:
            report.skip("no_usable_channels", unit.key)
        else:
            data_seconds = covered_seconds(stream, unit.t0.timestamp, unit.t1.timestamp)
    return Prepared(stream, report, problems, data_seconds, time.time() - t_start, valid_seconds)


def process_unit(unit: StationDay, settings: PickSettings, out_dir: str,
                 prepared: Prepared | None = None) -> dict[str, Any]:
    """Pick one station-day and commit it to ``out_dir``; returns the unit's state record."""
    from seisforge.deploy.store import PickStore, picks_table

    prepared = prepared or prepare_unit(unit, settings)
    t_start = time.time()
    picker = get_picker(settings)
    report = prepared.report
    picks = []
    if len(prepared.stream):  # empty: already counted as no_data / no_usable_channels
        blocks = picker.blocks(prepared.stream)
        if not any(len(b.offsets) for b in blocks):
            report.skip("no_window_fits", unit.key)
        before = dict(picker.stats)
        picks = [p for p in picker.picks(picker.annotate(blocks)) if unit.t0 <= p.peak_time < unit.t1]
        # inference accounting (summed over units in run_report.json notes)
        for key, name in (("windows", "model_windows"), ("refined_windows", "bf16_refined_windows"),
                          ("fallbacks", "bf16_fallbacks")):
            report.notes[name] = picker.stats[key] - before[key]
    state = {
        "unit": unit.key,
        "station": unit.station,
        "day": unit.day,
        "n_picks": len(picks),
        "data_seconds": round(prepared.data_seconds, 3),
        "valid_seconds": round(prepared.valid_seconds, 3),
        "settings_hash": settings.settings_hash(),
        "file_problems": sorted({(r, p) for r, p, _ in prepared.problems}),
        "problem_messages": sorted({m for _, _, m in prepared.problems})[:5],
        "handled": dict(report.handled),
        "skipped": dict(report.skipped),
        "examples": report.examples,
        "notes": report.notes,
        "elapsed_s": round(prepared.seconds + time.time() - t_start, 3),
        "backend": picker.backend,
        "precision": picker.precision,
        "bf16_max_error": round(picker.stats["max_bf16_error"], 6),
    }
    table = picks_table(picks, settings.model, model_version(settings))
    PickStore(out_dir).write_unit(unit, table, state)  # URL: storage options from fsspec's config
    return state


def summarise(store_states: list[dict[str, Any]], index_problems: list[tuple[str, str, str]],
              unit_failures: list[tuple[str, str]], report: RunReport) -> RunReport:
    """Fill ``report`` from all unit states (this and earlier runs) plus file and unit failures."""
    from seisforge.deploy.store import valid_seconds

    files: set[tuple[str, str]] = {(r, p) for r, p, _ in index_problems}
    for st in store_states:
        report.processed += 1
        for reason, n in st["handled"].items():
            report.handled[reason] += n
        for reason, n in st["skipped"].items():
            report.skipped[reason] += n
        for k, v in st.get("examples", {}).items():
            lst = report.examples.setdefault(k, [])
            lst.extend(x for x in v if len(lst) < report.max_examples and x not in lst)
        for reason, path in st.get("file_problems", []):
            files.add((reason, path))
        for name, value in st.get("notes", {}).items():  # per-unit seconds: summed
            report.notes[name] = round(report.notes.get(name, 0.0) + value, 3)
    for reason, path in sorted(files):
        report.fail(reason, path)
    for key, message in unit_failures:
        report.fail("unit_error", f"{key}: {message}")
    report.notes["n_picks"] = int(sum(st["n_picks"] for st in store_states))
    report.notes["data_station_hours"] = round(sum(st.get("data_seconds", 0.0) for st in store_states) / 3600, 4)
    report.notes["valid_station_hours"] = round(sum(valid_seconds(st) for st in store_states) / 3600, 4)
    report.notes["units_done"] = len(store_states)
    errors = [st["bf16_max_error"] for st in store_states if st.get("bf16_max_error")]
    if errors:  # largest bf16 error measured on refined windows (the refinement margin must stay above it)
        report.notes["bf16_max_error"] = max(errors)
    return report


def run_units(units: list[StationDay], settings: PickSettings, out_dir: str, workers: int = 0,
              address: str | None = None, progress: bool = True, max_retries: int = 3,
              stop: Callable[[], bool] | None = None) -> tuple[list[tuple[str, str]], int]:
    """Process ``units`` (already filtered to the unfinished ones).

    ``stop()`` is polled between units: when it turns true, no further unit starts (in serial mode
    the unit being picked finishes and commits; on Ray, tasks not yet finished are cancelled and
    their units stay undone, the atomic writes leaving no partial unit). Returns the ``(key, error)``
    failures and the number of units finished in this call.
    """
    from tqdm import tqdm

    stop = stop or (lambda: False)
    if not units:  # nothing to do: no Ray start, no model work
        return [], 0
    failures: list[tuple[str, str]] = []
    bar = tqdm(total=len(units), unit="station-day", disable=not progress, dynamic_ncols=True)
    n_picks = n_done = 0

    def done(state: dict[str, Any]) -> None:
        nonlocal n_picks, n_done
        n_picks += state["n_picks"]
        n_done += 1
        bar.set_postfix(picks=n_picks)
        bar.update(1)

    try:
        if workers <= 0 and address is None:
            failures = _run_serial(units, settings, out_dir, done, bar, stop)
        else:
            from seisforge.deploy.scale import run_ray

            failures = run_ray(units, settings, out_dir, workers, address, max_retries, done, bar,
                               task=process_unit, stop=stop)
    finally:
        bar.close()
    return failures, n_done


def _run_serial(units: list[StationDay], settings: PickSettings, out_dir: str,
                done: Callable[[dict[str, Any]], None], bar: Any, stop: Callable[[], bool]
                ) -> list[tuple[str, str]]:
    """Units in this process; the next unit is read and cleaned in a thread while the model runs."""
    from concurrent.futures import ThreadPoolExecutor

    failures: list[tuple[str, str]] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = pool.submit(prepare_unit, units[0], settings) if units else None
        for i, unit in enumerate(units):
            if stop():
                if ahead is not None:
                    ahead.cancel()
                break
            current, ahead = ahead, (pool.submit(prepare_unit, units[i + 1], settings)
                                     if i + 1 < len(units) else None)
            try:
                done(process_unit(unit, settings, out_dir, prepared=current.result()))
            except Exception as err:  # noqa: BLE001 - one bad unit never ends the run
                log.exception("unit %s failed", unit.key)
                failures.append((unit.key, f"{type(err).__name__}: {err}"))
                bar.update(1)
    return failures
