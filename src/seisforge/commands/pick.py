"""``seisforge pick``: continuous picking over station-days, resumable, optionally on Ray."""

from __future__ import annotations

import argparse
import json

from seisforge.commands import _validate as v


def register(sub) -> None:
    """Add the top-level ``pick`` command."""
    p = sub.add_parser(
        "pick",
        help="pick phases on continuous data (files, SDS or FDSN) into a Parquet dataset",
        description="Continuous picking with a SeisBench array model (SeisBench-equivalent picks) or "
        "STA/LTA; "
        "one unit of work per station-day, resumable, optionally on Ray. See docs/deploy.md.",
    )
    p.add_argument("--model", default="seisbench:PhaseNet",
                   help="model spec of a SeisBench array picker: seisbench:<Class>, just <Class> "
                   "(PhaseNet, PhaseNetLight, ...), run:DIR or onnx:PATH (grammar: seisforge.models.registry); "
                   "or stalta[:aic|:baer], continuous STA/LTA triggers (thresholds: score 1 - 1/ratio, "
                   "default 0.75; seisforge.deploy.stalta_stream)")
    p.add_argument("--weights", help="SeisBench weight pair prefix, file or folder")
    p.add_argument("--pretrained", help="SeisBench pretrained name (needs network or cache)")
    p.add_argument("--random-init", action="store_true",
                   help="no weights: randomly initialised model (seed 0), for speed tests only")
    src = p.add_argument_group("input (one of)")
    src.add_argument("--input", nargs="+", metavar="PATH",
                     help="miniSEED/SAC files or directories, local or fsspec URLs (s3://bucket/prefix)")
    src.add_argument("--sds", metavar="ROOT",
                     help="SDS archive root, local or s3://... (with --stations --start --end)")
    src.add_argument("--fdsn", metavar="URL", help="FDSN dataselect service (with --stations --start --end)")
    src.add_argument("--stations", help="NET.STA[.LOC],... for --sds/--fdsn")
    src.add_argument("--start", help="first day (UTC) for --sds/--fdsn")
    src.add_argument("--end", help="end (UTC, exclusive) for --sds/--fdsn")
    src.add_argument("--channel", default="*", help="channel pattern for --sds/--fdsn (e.g. HH?)")
    p.add_argument("--out", required=True, metavar="PICKS_DIR", help="output folder, or s3://bucket/prefix")
    p.add_argument("--storage-options", metavar="JSON",
                   help="fsspec options for s3:// inputs and outputs, e.g. "
                        "'{\"endpoint_url\": \"http://127.0.0.1:9000\", \"anon\": false}' "
                        "(also read from the FSSPEC_S3 environment variable)")
    p.add_argument("--threshold-P", dest="P_threshold", type=v.threshold, help="default: from the weights")
    p.add_argument("--threshold-S", dest="S_threshold", type=v.threshold, help="default: from the weights")
    p.add_argument("--calibrated", nargs="?", const="", metavar="CARD",
                   help="thresholds on the calibrated scale of the model card's calibration (bench calibrate; "
                   "default: the card's thresholds), mapped exactly to raw thresholds; peak_value stays raw. "
                   "CARD defaults to RUN_DIR/model_card.json or model_card.json beside --weights")
    p.add_argument("--overlap", type=v.nonneg_float, help="window overlap (samples, or fraction < 1); default: model's")
    p.add_argument("--blinding", type=v.nonneg_int, nargs=2, metavar=("PRE", "POST"),
                   help="prediction samples masked at each window edge; default: model's")
    p.add_argument("--stacking", choices=["avg", "max"], help="default: model's (avg)")
    p.add_argument("--strict", action="store_true",
                   help="only pick where all components exist (SeisBench strict); default zero-fills")
    p.add_argument("--batch-size", type=v.positive_int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--backend", choices=["auto", "torch", "onnx", "openvino"], default="auto",
                   help="float32 inference: ONNX Runtime, OpenVINO (CPU) or torch; auto takes the faster of "
                        "ONNX Runtime and OpenVINO on the CPU (timed at start-up), torch elsewhere")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="bf16: OpenVINO bf16 forward pass with float32 recomputation of every window near a "
                        "trigger (same picks, faster on CPUs with native bf16); auto: bf16 where it is faster "
                        "on this CPU and model, else fp32")
    p.add_argument("--threads", type=v.positive_int, help="torch threads per process")
    p.add_argument("--workers", type=v.nonneg_int, default=0, help="local Ray workers (0: this process)")
    p.add_argument("--address", help="existing Ray cluster address (ray://... or auto)")
    p.add_argument("--max-retries", type=v.nonneg_int, default=3, help="Ray task retries per station-day")
    p.add_argument("--csv", metavar="PATH", help="also export all picks as CSV")
    p.add_argument("--quakeml", metavar="PATH", help="also export all picks as QuakeML")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``seisforge pick``: lock the output, check its state, pick what is not done."""
    from seisforge.errors import ConfigError

    sources = [x for x in (args.input, args.sds, args.fdsn) if x]
    if len(sources) != 1:
        raise ConfigError("give exactly one input: --input PATH..., --sds ROOT or --fdsn URL")
    if args.input and args.workers <= 0 and args.address is None:
        _decode_ahead(args.input)  # before the heavy imports below: the files are decoded meanwhile
    from seisforge.deploy.store import OutputLock, PickStore
    from seisforge.models.registry import PICK_COMMAND_KINDS, parse_spec
    from seisforge.runinfo import RunReport

    configure_storage(args.storage_options, [args.out, args.sds or "", *(args.input or [])])
    # canonical spec (a bare <Class> is seisbench:<Class>): what run.json records and reruns must match
    model = str(parse_spec(args.model, kinds=PICK_COMMAND_KINDS, user="seisforge pick"))
    settings = _settings(args, model)
    store = PickStore(args.out)
    with OutputLock(store), StopOnSignal() as stop:
        try:
            return _pick(args, settings, store, RunReport(command="pick"), stop)
        except KeyboardInterrupt:  # a second signal: the unit in progress was abandoned (never committed)
            return stop.stopped_message(store, None)


def _decode_ahead(inputs: list[str]) -> None:
    """Decode small local inputs in a background thread (``waveio.decode_ahead``); problems are left to the run."""
    from seisforge.data.continuous.sources import expand_paths
    from seisforge.data.continuous.waveio import decode_ahead, is_url
    from seisforge.errors import SeisforgeError

    if any(is_url(p) for p in inputs):  # object storage: listed and fetched by the run, with its options
        return
    try:
        decode_ahead(expand_paths(inputs))
    except (SeisforgeError, OSError):  # a missing input: reported by the run itself
        pass


def _settings(args: argparse.Namespace, model: str):
    from seisforge.deploy.settings import PickSettings

    overlap = int(args.overlap) if args.overlap is not None and args.overlap >= 1 else args.overlap
    args.calibration = _calibrate(args, model)
    return PickSettings(
        model=model, weights=args.weights, pretrained=args.pretrained, random_init=args.random_init,
        P_threshold=args.P_threshold, S_threshold=args.S_threshold, overlap=overlap,
        blinding=tuple(args.blinding) if args.blinding else None, stacking=args.stacking,
        strict=args.strict, batch_size=args.batch_size, device=args.device, backend=args.backend,
        precision=args.precision, threads=args.threads,
    )


def _calibrate(args: argparse.Namespace, model: str) -> dict | None:
    """``--calibrated``: thresholds on the calibrated scale become raw ones (exact for monotone maps)."""
    if args.calibrated is None:
        return None
    from seisforge.bench.picking.calibration import calibrated_pick_thresholds

    raw, cal_thr, cal = calibrated_pick_thresholds(args.calibrated or None, model, args.weights,
                                                   {"P": args.P_threshold, "S": args.S_threshold})
    args.P_threshold, args.S_threshold = raw.get("P", args.P_threshold), raw.get("S", args.S_threshold)
    return {"thresholds": cal_thr, "raw_thresholds": raw, "method": cal["method"], "maps": cal["maps"]}


def _pick(args: argparse.Namespace, settings, store, report, stop: StopOnSignal) -> int:
    from contextlib import nullcontext

    from seisforge.deploy.runner import UnitReader, get_model, get_picker, pad_seconds, run_units, summarise
    from seisforge.errors import ConfigError
    from seisforge.runinfo import environment

    previous = (store.read_json("run.json") or {}).get("settings")
    if previous is not None and previous != settings.identity():
        raise ConfigError(f"{store.url} holds picks made with other settings ({previous}); use a new --out "
                          "to avoid mixing pick sets")
    loaded = get_model(settings)  # fails early on bad model/weights
    v.check_window(settings.overlap, settings.blinding, loaded.model.in_samples)  # options vs the model's window
    units, index_problems = _units(args, pad_seconds(loaded))
    stale = store.clean_stale()
    todo = todo_units(store, units, settings.settings_hash(), report)
    serial = args.workers <= 0 and args.address is None
    # in this process, the first station-day is read while the runtimes are built
    with UnitReader(todo, settings) if serial and todo else nullcontext() as reader:
        get_picker(settings)  # runtime errors (backend, precision) end the run before run.json is written
        store.write_json("run.json", {"settings": settings.identity(), "settings_hash": settings.settings_hash(),
                                      "args": vars(args) | {"func": None, "calibration": None},
                                      "calibrated": args.calibration,
                                      "environment": environment(device=args.device)})
        print(f"seisforge pick: {len(units)} station-days, {len(units) - len(todo)} already done, "
              f"{sum(v for k, v in report.handled.items() if k.startswith('redo_'))} redone after a state "
              f"check, {len(index_problems)} unreadable files")
        failures, n_done = run_units(todo, settings, store.url, workers=args.workers, address=args.address,
                                     progress=not args.no_progress, max_retries=args.max_retries, stop=stop,
                                     reader=reader)
    report = summarise(store.states(), index_problems, failures, report)
    report.notes["units_total"] = len(units)
    report.notes["model_card"] = ("checked per instrument (card_* counts)" if loaded.card is not None
                                  else "none: the model has no card; streams follow SeisBench's rules only")
    report.notes["stale_temp_files_removed"] = stale
    path = store.write_json("run_report.json", report.to_dict())
    if stop():
        return stop.stopped_message(store, n_done)
    _export(args, store.url, settings.model)
    print(f"seisforge pick: {report.notes['n_picks']} picks in {report.notes['units_done']} station-days; "
          f"{len(failures)} failed; report {path}")
    mismatched = report.skipped.get("card_component_mismatch", 0)
    if mismatched:
        from seisforge.models.card import MISSING_COMPONENT_RULE

        print(f"seisforge pick: error: {mismatched} instrument-days not picked: their components cannot be "
              f"matched to the model card's {loaded.card.component_order!r} "
              f"({MISSING_COMPONENT_RULE}); examples: {report.examples.get('skipped:card_component_mismatch')}")
    return 1 if failures or mismatched else 0


def _units(args: argparse.Namespace, pad: float):
    from seisforge.data.continuous.sources import archive_units, index_files, parse_stations
    from seisforge.errors import ConfigError

    if args.input:
        index = index_files(args.input, pad)
        return index.units, index.problems
    if not (args.stations and args.start and args.end):
        raise ConfigError("--sds/--fdsn need --stations, --start and --end")
    kind, root = ("sds", args.sds) if args.sds else ("fdsn", args.fdsn)
    return archive_units(kind, root, parse_stations(args.stations), args.start, args.end, args.channel), []


def todo_units(store, units, settings_hash: str, report) -> list:
    """Units to (re)do: not done, or done but failing the state check (counted as ``redo_<reason>``)."""
    todo = []
    for unit in units:
        reason = store.check_unit(unit, settings_hash)
        if reason is None:
            continue
        if reason != "not_done":
            report.handle(f"redo_{reason}", unit.key)
        todo.append(unit)
    return todo


def _export(args: argparse.Namespace, out: str, model: str) -> None:
    if args.csv or args.quakeml:  # pandas only then (~0.5 s of start-up)
        from seisforge.deploy.pick_export import to_csv, to_quakeml
        from seisforge.deploy.store import read_picks

        picks = read_picks(out)
        if args.csv:
            to_csv(picks, args.csv)
        if args.quakeml:
            to_quakeml(picks, args.quakeml, model=model)


def configure_storage(options: str | None, urls: list[str]) -> None:
    """Apply ``--storage-options`` to fsspec's configuration of the URLs' protocols.

    They go to ``fsspec.config.conf`` (this process) and to ``FSSPEC_<PROTOCOL>`` in the environment,
    which Ray workers inherit, so every process opens the same storage the same way.
    """
    import os

    import fsspec.config

    from seisforge.errors import ConfigError

    if not options:
        return
    try:
        parsed = json.loads(options)
    except ValueError as err:
        raise ConfigError(f"--storage-options is not JSON: {err}") from None
    if not isinstance(parsed, dict):
        raise ConfigError("--storage-options must be a JSON object")
    protocols = {u.split("://", 1)[0] for u in urls if "://" in u} or {"s3"}
    for proto in protocols:
        fsspec.config.conf.setdefault(proto, {}).update(parsed)
        os.environ[f"FSSPEC_{proto.upper()}"] = json.dumps(fsspec.config.conf[proto])


class StopOnSignal:
    """SIGINT (Ctrl-C) and SIGTERM (batch systems) ask the run to stop after the current unit.

    The first signal sets a flag that the runner polls between units, so the unit in progress
    finishes and commits; a second signal abandons it at once (it is never half-committed: its
    state file is written last, atomically). Either way the command exits with 128 + the signal
    number (130, 143) and says how to resume, without a traceback.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __call__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> StopOnSignal:
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def stopped_message(self, store, n_done: int | None) -> int:
        """Print what finished and how to resume; return the exit code (128 + signal)."""
        import signal

        signum = self.signum or signal.SIGINT
        done = len(store.states())
        this_run = f"{n_done} in this run, " if n_done is not None else ""
        print(f"seisforge pick: stopped by {signal.Signals(signum).name}; {this_run}{done} station-days "
              f"finished in {store.url}. Rerun the same command to resume.", flush=True)
        return 128 + int(signum)
