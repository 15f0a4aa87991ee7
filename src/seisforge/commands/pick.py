"""``seisforge pick``: continuous picking over station-days, resumable, optionally on Ray."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seisforge.commands import _validate as v


def register(sub) -> None:
    """Add the top-level ``pick`` command."""
    p = sub.add_parser(
        "pick",
        help="pick phases on continuous data (files, SDS or FDSN) into a Parquet dataset",
        description="Continuous picking with a SeisBench array model; SeisBench-equivalent picks, "
        "one unit of work per station-day, resumable, optionally on Ray. See docs/deploy.md.",
    )
    p.add_argument("--model", default="seisbench:PhaseNet",
                   help="model spec of a SeisBench array picker: seisbench:<Class>, just <Class> "
                   "(PhaseNet, PhaseNetLight, ...) or run:DIR (grammar: seisforge.models.registry)")
    p.add_argument("--weights", help="SeisBench weight pair prefix, file or folder")
    p.add_argument("--pretrained", help="SeisBench pretrained name (needs network or cache)")
    p.add_argument("--random-init", action="store_true",
                   help="no weights: randomly initialised model (seed 0), for speed tests only")
    src = p.add_argument_group("input (one of)")
    src.add_argument("--input", nargs="+", metavar="PATH", help="miniSEED/SAC files or directories")
    src.add_argument("--sds", metavar="ROOT", help="SDS archive root (with --stations --start --end)")
    src.add_argument("--fdsn", metavar="URL", help="FDSN dataselect service (with --stations --start --end)")
    src.add_argument("--stations", help="NET.STA[.LOC],... for --sds/--fdsn")
    src.add_argument("--start", help="first day (UTC) for --sds/--fdsn")
    src.add_argument("--end", help="end (UTC, exclusive) for --sds/--fdsn")
    src.add_argument("--channel", default="*", help="channel pattern for --sds/--fdsn (e.g. HH?)")
    p.add_argument("--out", required=True, metavar="PICKS_DIR")
    p.add_argument("--threshold-P", dest="P_threshold", type=v.threshold, help="default: from the weights")
    p.add_argument("--threshold-S", dest="S_threshold", type=v.threshold, help="default: from the weights")
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
    """Handler of ``seisforge pick``."""
    from seisforge.data.continuous.sources import archive_units, index_files, parse_stations
    from seisforge.deploy.pick_export import to_csv, to_quakeml
    from seisforge.deploy.runner import (
        get_picker,
        pad_seconds,
        run_units,
        summarise,
    )
    from seisforge.deploy.settings import PickSettings
    from seisforge.deploy.store import PickStore, read_picks
    from seisforge.errors import ConfigError
    from seisforge.models.registry import SEISBENCH_KINDS, parse_spec
    from seisforge.runinfo import RunReport, environment, write_json

    sources = [x for x in (args.input, args.sds, args.fdsn) if x]
    if len(sources) != 1:
        raise ConfigError("give exactly one input: --input PATH..., --sds ROOT or --fdsn URL")
    report = RunReport(command="pick")
    # canonical spec (a bare <Class> is seisbench:<Class>): what run.json records and reruns must match
    model = str(parse_spec(args.model, kinds=SEISBENCH_KINDS, user="seisforge pick"))
    overlap = int(args.overlap) if args.overlap is not None and args.overlap >= 1 else args.overlap
    settings = PickSettings(
        model=model, weights=args.weights, pretrained=args.pretrained, random_init=args.random_init,
        P_threshold=args.P_threshold,
        S_threshold=args.S_threshold, overlap=overlap,
        blinding=tuple(args.blinding) if args.blinding else None, stacking=args.stacking,
        strict=args.strict, batch_size=args.batch_size, device=args.device, backend=args.backend,
        precision=args.precision, threads=args.threads,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run_json = out / "run.json"
    if run_json.is_file():
        previous = json.loads(run_json.read_text()).get("settings")
        if previous != settings.identity():
            raise ConfigError(
                f"{out} holds picks made with other settings ({previous}); use a new --out to avoid "
                "mixing pick sets"
            )
    picker = get_picker(settings)  # fails early on bad model/weights
    v.check_window(overlap, settings.blinding, picker.model.in_samples)  # options vs the model's window
    pad = pad_seconds(picker)
    index_problems = []
    if args.input:
        index = index_files(args.input, pad)
        units, index_problems = index.units, index.problems
    else:
        if not (args.stations and args.start and args.end):
            raise ConfigError("--sds/--fdsn need --stations, --start and --end")
        kind, root = ("sds", args.sds) if args.sds else ("fdsn", args.fdsn)
        units = archive_units(kind, root, parse_stations(args.stations), args.start, args.end, args.channel)
    write_json({"settings": settings.identity(), "args": vars(args) | {"func": None},
                "environment": environment(device=args.device)}, run_json)
    store = PickStore(out)
    stale = store.clean_stale()
    todo = [u for u in units if not store.is_done(u)]
    print(f"seisforge pick: {len(units)} station-days, {len(units) - len(todo)} already done, "
          f"{len(index_problems)} unreadable files")
    failures = run_units(todo, settings, str(out), workers=args.workers, address=args.address,
                         progress=not args.no_progress, max_retries=args.max_retries)
    report = summarise(store.states(), index_problems, failures, report)
    report.notes["units_total"] = len(units)
    report.notes["stale_temp_files_removed"] = stale
    path = report.write(out / "run_report.json")
    picks = None
    if args.csv or args.quakeml:
        picks = read_picks(out)
        if args.csv:
            to_csv(picks, args.csv)
        if args.quakeml:
            to_quakeml(picks, args.quakeml, model=model)
    print(f"seisforge pick: {report.notes['n_picks']} picks in {report.notes['units_done']} station-days; "
          f"{len(failures)} failed; report {path}")
    return 1 if failures else 0
