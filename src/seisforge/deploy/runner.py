"""Run station-day units: in this process, or as Ray tasks with retries.

:func:`process_unit` is the whole per-unit pipeline (load -> sanitise -> pick -> write atomically) and
is what a Ray task runs; results are identical in both modes because units are independent and each
writes only its own Parquet file and state file.
"""

from __future__ import annotations

import logging
import threading
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


@dataclass(frozen=True)
class UnitModel:
    """The loaded model of a run and its annotate arguments: what reading and clean-up need.

    It exists before the runtimes are built (export, compilation, timing), so the first station-day
    can be read while they are.
    """

    model: Any
    argdict: dict[str, Any]
    source: str  # LoadedModel.source
    card: Any = None  # the model card (None for plain SeisBench weights): checked against every stream
    windowed: bool = True  # False for continuous STA/LTA: no window grid (see align_cut_start)


_MODELS: dict[PickSettings, UnitModel] = {}
_PICKERS: dict[PickSettings, Any] = {}  # settings -> FastPicker or StaLtaStreamPicker
_LOCK = threading.Lock()  # the reader thread and the main thread both ask for the model
_FULL_ONLY: set[PickSettings] = set()  # settings whose input needed the full path (deploy.lean.NotLean)


def get_model(settings: PickSettings) -> UnitModel:
    """Load (once per process) the model of ``settings``; fails early on bad model specs or weights, and
    on a model whose card says it is not a phase picker."""
    with _LOCK:
        cached = _MODELS.get(settings)
        if cached is None:
            cached = _load_unit_model(settings)
            _MODELS.clear()
            _MODELS[settings] = cached
        return cached


def _load_unit_model(settings: PickSettings, lean: bool = True) -> UnitModel:
    from seisforge.deploy.memory import keep_freed_memory

    keep_freed_memory()  # a picking process reuses its large buffers instead of page-faulting them daily
    if lean and settings not in _FULL_ONLY:
        from seisforge.deploy.lean import LeanModel, description

        desc = description(settings)  # a full process ran these settings before: no torch needed
        if desc is not None:
            model = LeanModel(desc)
            return UnitModel(model, model.argdict, model.source, model.card, True)
    import torch

    from seisforge.deploy.engine import annotate_argdict
    from seisforge.errors import ConfigError
    from seisforge.models.registry import load_model, parse_spec
    from seisforge.runinfo import seed_everything

    if settings.threads:
        torch.set_num_threads(settings.threads)
    seed_everything(0)  # a random-init model (speed tests) is then the same in every process
    loaded = load_model(settings.model, weights=settings.weights, pretrained=settings.pretrained,
                        allow_random=settings.random_init)
    if loaded.card is not None and loaded.card.task != "picking":
        raise ConfigError(f"{settings.model} is a {loaded.card.task} model (outputs {loaded.card.outputs}), "
                          "not a phase picker; seisforge pick needs a picking model")
    windowed = parse_spec(settings.model).kind != "stalta"  # classical: continuous triggers, no windows
    argdict = annotate_argdict(loaded.model, settings.batch_size, settings.pick_kwargs()) if windowed else {}
    return UnitModel(loaded.model, argdict, loaded.source, loaded.card, windowed)


def get_picker(settings: PickSettings):
    """The model of ``settings`` wrapped (once per process) in a :class:`FastPicker` (runtimes built), or
    for a ``stalta`` spec in a :class:`~seisforge.deploy.stalta_stream.StaLtaStreamPicker`."""
    picker = _PICKERS.get(settings)
    if picker is None:
        from seisforge.deploy import lean

        loaded = get_model(settings)
        if getattr(loaded.model, "lean", False):
            picker = lean.LeanPicker(loaded.model, settings.batch_size,
                                     full=lambda: _fast_picker(settings, _load_unit_model(settings, lean=False)))
        elif not loaded.windowed:
            from seisforge.deploy.stalta_stream import StaLtaStreamPicker

            picker = StaLtaStreamPicker(loaded.model, **settings.pick_kwargs())
        else:
            picker = _fast_picker(settings, loaded)
            lean.remember(settings, loaded.model, loaded.card, loaded.source, picker)  # for the next process
        _PICKERS.clear()
        _PICKERS[settings] = picker
    return picker


def _fast_picker(settings: PickSettings, loaded: UnitModel):
    from seisforge.deploy.engine import FastPicker

    return FastPicker(loaded.model, batch_size=settings.batch_size, device=settings.device,
                      backend=settings.backend, precision=settings.precision, **settings.pick_kwargs())


def _use_full_path(settings: PickSettings) -> None:
    """An input needed the full path (:class:`~seisforge.deploy.lean.NotLean`): load it from now on."""
    with _LOCK:
        _FULL_ONLY.add(settings)
        _MODELS.pop(settings, None)
        _PICKERS.pop(settings, None)


def model_version(settings: PickSettings) -> str:
    """Human-readable weights identity of the settings' model: source and SeisBench weights version."""
    source = get_model(settings).source
    if source == "random-init" or source.startswith("pretrained:"):
        return source
    head, _, tail = source.partition(" ")
    return (Path(head).name + " " + tail).strip()


def pad_seconds(loaded: UnitModel) -> float:
    """Data loaded beyond each side of a day: one model window plus a margin."""
    return 2.0 * loaded.model.in_samples / loaded.model.sampling_rate + 1.0


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


def align_cut_start(stream, cut: float, loaded: UnitModel) -> None:
    """Move starts that our day padding cut (at ``cut``) forward to the global window grid.

    SeisBench places windows every ``in_samples - overlap`` samples from the start of each continuous
    block. Where a block starts only because the unit's padding cut it, its start is moved to the next
    multiple of that stride since the epoch, so consecutive station-days share one window grid and the
    picks do not depend on where the archive was split. Applies to traces at the model's rate; starts
    that are real data starts (after a gap, or the start of the recording) are kept.
    """
    fs = loaded.model.sampling_rate
    if not fs or not loaded.windowed:  # continuous STA/LTA has no window grid
        return
    stride = loaded.model.in_samples - sbc.window_overlap(loaded.model, loaded.model.in_samples, loaded.argdict)
    for tr in stream:
        start = tr.stats.starttime.timestamp
        if abs(start - cut) <= 1.0 / tr.stats.sampling_rate and tr.stats.sampling_rate == fs:
            n = int(np.ceil(round(start * fs, 3) / stride)) * stride
            tr.trim(starttime=obspy.UTCDateTime(n / fs), nearest_sample=True)


def prepare_unit(unit: StationDay, settings: PickSettings) -> Prepared:
    """Load and clean one unit (I/O and ObsPy work; runs in the reader thread in serial mode).

    It needs the model only (:func:`get_model`), not its runtimes, so it can run while they are built.
    A clean-up step the lean model cannot do (resampling) switches the process to the full path.
    """
    from seisforge.deploy.lean import NotLean

    try:
        return _prepare_unit(unit, settings)
    except NotLean as why:
        log.info("%s: full path (%s)", unit.key, why)
        _use_full_path(settings)
        prepared = _prepare_unit(unit, settings)
        prepared.report.handle("lean_fallback", unit.key)
        return prepared


def _prepare_unit(unit: StationDay, settings: PickSettings) -> Prepared:
    from seisforge.data.continuous.preprocess import check_against_card, sanitize
    from seisforge.data.continuous.quality import assess_quality

    t_start = time.time()
    loaded = get_model(settings)
    report = RunReport(command="unit")
    problems: list[tuple[str, str, str]] = []
    stream = load_unit(unit, pad_seconds(loaded), problems)
    data_seconds = valid_seconds = 0.0
    if len(stream) == 0:
        report.skip("no_data", unit.key)
    else:
        card = loaded.card
        if card is not None:  # per instrument: rate resampled, horizontals zero-filled, a missing Z/H skipped
            stream = check_against_card(stream, card, report, unit.key)
        stream = sanitize(stream, loaded.model, report, unit.key, strict=settings.strict)
        valid_seconds = assess_quality(stream, unit.t0.timestamp, unit.t1.timestamp, report, unit.key)
        align_cut_start(stream, (unit.t0 - pad_seconds(loaded)).timestamp, loaded)
        stream = obspy.Stream([tr for tr in stream if tr.stats.npts > 0])
        if len(stream) == 0:
            report.skip("no_usable_channels", unit.key)
        else:
            data_seconds = covered_seconds(stream, unit.t0.timestamp, unit.t1.timestamp)
    return Prepared(stream, report, problems, data_seconds, time.time() - t_start, valid_seconds)


def process_unit(unit: StationDay, settings: PickSettings, out_dir: str, prepared: Prepared | None = None,
                 write: Callable[[Commit], None] | None = None) -> dict[str, Any]:
    """Pick one station-day and commit it to ``out_dir``; returns the unit's state record.

    ``write`` takes over the commit (:meth:`Commit.run`, e.g. in a writer thread); without it the unit
    is committed before this returns.
    """
    prepared = prepared or prepare_unit(unit, settings)
    t_start = time.time()
    picker = get_picker(settings)
    report = prepared.report
    picks = []
    if len(prepared.stream):  # empty: already counted as no_data / no_usable_channels
        blocks = picker.blocks(prepared.stream)
        # the samples are in the blocks now: the stream's arrays (a station-day's worth) are freed before
        # inference, whose buffers then reuse that memory instead of faulting in fresh pages
        prepared.stream = obspy.Stream()
        if not any(len(b.offsets) for b in blocks):
            report.skip("no_window_fits", unit.key)
        before = dict(picker.stats)
        picks = [p for p in picker.picks(picker.annotate(blocks)) if unit.t0 <= p.peak_time < unit.t1]
        if getattr(picker, "fell_back", False):  # deploy.lean: this input needed SeisBench's full rules
            report.handle("lean_fallback", unit.key)
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
    commit = Commit(out_dir, unit, picks, settings.model, model_version(settings), state)
    (write or Commit.run)(commit)
    return state


@dataclass
class Commit:
    """A picked unit's write: its Parquet file, then its state file (the commit point)."""

    out_dir: str
    unit: StationDay
    picks: list[Any]
    model: str
    model_version: str
    state: dict[str, Any]

    def run(self) -> dict[str, Any]:
        """Write the unit (atomically, see :meth:`~seisforge.deploy.store.PickStore.write_unit`); its state."""
        from seisforge.deploy.store import PickStore, picks_table

        table = picks_table(self.picks, self.model, self.model_version)
        PickStore(self.out_dir).write_unit(self.unit, table, self.state)  # URL: storage options from fsspec
        return self.state


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


class UnitReader:
    """Reads (loads and cleans, :func:`prepare_unit`) the units of a serial run one ahead, in a thread.

    Entering it starts reading the first unit at once, so a process that has one station-day to pick
    reads it while the runtimes are built (:func:`get_picker`: export, compilation, timing); then each
    :meth:`take` starts reading the next unit while the current one is picked. Reading is I/O and
    ObsPy/numpy work that mostly runs outside the GIL. A reader error belongs to its unit: :meth:`take`
    raises it for that unit, where the runner counts it as the unit's failure.

    Parameters
    ----------
    units
        The units, in the order the runner takes them.
    settings
        The run's settings (the reader needs the model only, :func:`get_model`).
    """

    def __init__(self, units: list[StationDay], settings: PickSettings) -> None:
        from concurrent.futures import Future

        self.units = units
        self.settings = settings
        self._pool: Any = None
        self._ahead: dict[int, Future] = {}

    def __enter__(self) -> UnitReader:
        from concurrent.futures import ThreadPoolExecutor

        from seisforge.deploy.memory import keep_freed_memory

        keep_freed_memory()  # before the first read: its arrays are then reused by the picking
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seisforge-read")
        self._read(0)
        return self

    def __exit__(self, *exc: Any) -> None:
        for future in self._ahead.values():
            future.cancel()
        self._ahead.clear()
        self._pool.shutdown(wait=True)  # a read in progress finishes (it writes nothing)

    def _read(self, i: int) -> None:
        if self._pool is not None and i < len(self.units) and i not in self._ahead:
            self._ahead[i] = self._pool.submit(prepare_unit, self.units[i], self.settings)

    def take(self, i: int) -> Prepared:
        """Unit ``i``'s data (reading unit ``i + 1`` starts now); raises what reading unit ``i`` raised."""
        future = self._ahead.pop(i, None)
        self._read(i + 1)
        return prepare_unit(self.units[i], self.settings) if future is None else future.result()


def run_units(units: list[StationDay], settings: PickSettings, out_dir: str, workers: int = 0,
              address: str | None = None, progress: bool = True, max_retries: int = 3,
              stop: Callable[[], bool] | None = None, reader: UnitReader | None = None
              ) -> tuple[list[tuple[str, str]], int]:
    """Process ``units`` (already filtered to the unfinished ones).

    ``stop()`` is polled between units: when it turns true, no further unit starts (in serial mode
    the unit being picked finishes and commits; on Ray, tasks not yet finished are cancelled and
    their units stay undone, the atomic writes leaving no partial unit). ``reader``: a started
    :class:`UnitReader` of ``units`` (serial mode; else one is started here). Returns the
    ``(key, error)`` failures and the number of units finished in this call.
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
            if reader is not None and reader.units is units:
                failures = _run_serial(units, settings, out_dir, done, bar, stop, reader)
            else:
                with UnitReader(units, settings) as own:
                    get_picker(settings)  # runtime errors end the run here, not as unit failures
                    failures = _run_serial(units, settings, out_dir, done, bar, stop, own)
        else:
            from seisforge.deploy.scale import run_ray

            failures = run_ray(units, settings, out_dir, workers, address, max_retries, done, bar,
                               task=process_unit, stop=stop)
    finally:
        bar.close()
    return failures, n_done


def _run_serial(units: list[StationDay], settings: PickSettings, out_dir: str,
                done: Callable[[dict[str, Any]], None], bar: Any, stop: Callable[[], bool],
                reader: UnitReader) -> list[tuple[str, str]]:
    """Units in this process: unit i + 1 is read (``reader``) and unit i - 1 written (a writer thread)
    while unit i is picked. Output is that of picking them one after the other: each unit's files
    are its own, and each is committed (state file last) before its ``done``."""
    from concurrent.futures import Future, ThreadPoolExecutor

    failures: list[tuple[str, str]] = []
    pending: list[tuple[StationDay, Future]] = []  # the commit in the writer thread (at most one)

    def fail(unit: StationDay, err: Exception) -> None:
        log.error("unit %s failed", unit.key, exc_info=err)
        failures.append((unit.key, f"{type(err).__name__}: {err}"))
        bar.update(1)

    def settle() -> None:  # wait for the commit in flight and count it
        while pending:
            unit, future = pending.pop()
            try:
                done(future.result())
            except Exception as err:  # noqa: BLE001 - a failed write fails its unit only
                fail(unit, err)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seisforge-write") as writer:
        try:
            for i, unit in enumerate(units):
                if stop():
                    break

                def write(commit: Commit, unit: StationDay = unit) -> None:
                    settle()  # at most one unit picked but not yet committed
                    pending.append((unit, writer.submit(commit.run)))

                try:
                    process_unit(unit, settings, out_dir, prepared=reader.take(i), write=write)
                except Exception as err:  # noqa: BLE001 - one bad unit (read or pick) never ends the run
                    fail(unit, err)
        finally:
            settle()  # the unit in progress commits, also on a stop
    return failures
