"""``seisforge bench compression DIR... --out REPORT_DIR``: the compression trade-off report."""

from __future__ import annotations

import argparse

from seisforge.commands import _validate as v

EXTENDS = "bench"


def add_report_options(p) -> None:
    """The measuring options shared with ``seisforge compress`` (see :class:`ReportSettings`)."""
    p.add_argument("--engine-batch", type=v.positive_int, default=256, help="the pick engine's batch for latency and picking")
    p.add_argument("--station-hours", type=v.positive_float, default=24.0,
                   help="length of the synthetic continuous record (24 = one station-day)")
    p.add_argument("--noise-hours", type=v.positive_float, default=2.0, help="noise-only hours for false picks/station-hour")
    p.add_argument("--repeats", type=v.positive_int, default=30, help="timed repeats at batch 1 (a sixth of them at the batch)")
    p.add_argument("--bootstrap", type=v.nonneg_int, default=200, help="event-bootstrap resamples for the CIs")


def settings_of(args: argparse.Namespace, dataset: str | None, targets: str | None):
    """:class:`ReportSettings` from the parsed options."""
    from seisforge.compress.report import ReportSettings

    return ReportSettings(dataset=dataset, targets=targets, engine_batch=args.engine_batch,
                          repeats_batch1=args.repeats, repeats_batch=max(2, args.repeats // 6),
                          station_hours=args.station_hours, noise_hours=args.noise_hours,
                          n_boot=args.bootstrap, seed=args.seed)


def register_verbs(verbs) -> None:
    """Add the ``compression`` verb to the ``bench`` group."""
    p = verbs.add_parser(
        "compression",
        help="trade-off report of compressed models: size, MACs, latency, speed, metrics, agreement",
        description="Measures the base model (--base, default: the input of the first DIR) and every "
        "`seisforge compress` output DIR, and writes compression_report.json, compression_report.md and "
        "compression_pareto.png into --out. See docs/compression.md for the fields.",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="seisforge compress output folders")
    p.add_argument("--base", help="the uncompressed model spec (default: the input of the first DIR)")
    p.add_argument("--base-weights", help="SeisBench weight pair of a seisbench:<Class> base")
    p.add_argument("--dataset", help="SeisBench dataset of --targets (test metrics, paired differences)")
    p.add_argument("--targets", help="bench targets folder")
    add_report_options(p)
    p.add_argument("--seed", type=v.seed, default=0)
    p.add_argument("--out", required=True, metavar="REPORT_DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``seisforge bench compression``."""
    import json
    from pathlib import Path

    from seisforge.compress.report import build_report, spec_of_dir
    from seisforge.errors import DataError

    if bool(args.dataset) != bool(args.targets):
        raise DataError("give --dataset and --targets together (or neither: no benchmark metrics)")
    base = args.base
    if base is None:
        notes = Path(args.dirs[0]) / "compress_report.json"
        if not notes.is_file():
            raise DataError(f"{args.dirs[0]}: no compress_report.json; give --base")
        base = json.loads(notes.read_text())["notes"]["input"]
    from seisforge.models.registry import load_model

    report = build_report([load_model(base, weights=args.base_weights), *[spec_of_dir(d) for d in args.dirs]], args.out,
                          settings_of(args, args.dataset, args.targets))
    print(Path(args.out) / "compression_report.md")
    print((Path(args.out) / "compression_report.md").read_text())
    return 0 if report["rows"] else 1
