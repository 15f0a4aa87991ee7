"""``seisforge associate``: picks -> a catalog with PyOcto or GaMMA (docs/catalog.md)."""

from __future__ import annotations

import argparse

from seisforge.commands import _validate as v


def register(sub) -> None:
    """Add the top-level ``associate`` command."""
    p = sub.add_parser(
        "associate", help="associate picks into events (PyOcto or GaMMA) -> events, assignments, QuakeML",
        description="Groups the picks of `seisforge pick` into events with a real associator, in overlapping "
        "time chunks (resumable, optionally on Ray). See docs/catalog.md.")
    p.add_argument("--picks", required=True, metavar="PICKS_DIR", help="output folder of seisforge pick")
    p.add_argument("--stations", required=True, metavar="STATIONS",
                   help="stations.csv (id or network/station/location, latitude, longitude[, elevation_m]) "
                   "or StationXML")
    p.add_argument("--method", required=True, choices=["pyocto", "gamma"])
    p.add_argument("--velocity-model", metavar="FILE",
                   help="YAML velocity model (homogeneous or layered; docs/catalog.md); default vp 6.0, vs 3.47")
    p.add_argument("--config", metavar="FILE", help="YAML settings (chunking, region, associator keys)")
    p.add_argument("--start", help="ignore picks before this UTC time (counted)")
    p.add_argument("--end", help="ignore picks at or after this UTC time (counted)")
    p.add_argument("--out", required=True, metavar="CATALOG_DIR")
    p.add_argument("--workers", type=v.nonneg_int, default=0, help="local Ray workers (0: this process)")
    p.add_argument("--address", help="existing Ray cluster address")
    p.add_argument("--max-retries", type=v.nonneg_int, default=2, help="Ray retries per chunk")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``seisforge associate``."""
    from seisforge.deploy.associate.run import run_association

    report = run_association(args.picks, args.stations, args.method, args.out, velocity_model=args.velocity_model,
                             config=args.config, start=args.start, end=args.end, workers=args.workers,
                             address=args.address, max_retries=args.max_retries, progress=not args.no_progress)
    d = report.to_dict()
    n = d["notes"]
    print(f"seisforge associate ({n['method']}): {n['n_events']} events from {n['n_picks_associated']}/"
          f"{n['n_picks']} picks in {n['chunks']} chunks; {n['picks_per_second']} picks/s; "
          f"skipped {d['skipped'] or 0}; failed {d['failed'] or 0}")
    print(f"-> {args.out}/events.parquet, assignments.parquet, catalog.xml, run_report.json")
    return 1 if d["failed_total"] else 0
