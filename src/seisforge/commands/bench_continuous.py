"""``seisforge bench continuous``: precision/recall of continuous picks against a catalog."""

from __future__ import annotations

import argparse
from pathlib import Path

from seisforge.commands import _validate as v

EXTENDS = "bench"


def register_verbs(verbs) -> None:
    """Add the ``continuous`` verb to the ``bench`` group."""
    p = verbs.add_parser(
        "continuous",
        help="precision/recall of `seisforge pick` output against reference picks; false picks/station-hour",
        description="Scores a picks dataset against a catalog of reference arrivals, per phase and per "
        "station, with event-clustered bootstrap CIs; with --noise-only, false picks per station-hour.",
    )
    p.add_argument("--picks", required=True, metavar="PICKS_DIR", help="output folder of seisforge pick")
    p.add_argument("--catalog", required=True, metavar="CATALOG.csv",
                   help="reference picks: trace_id (NET.STA.LOC), phase, time (ISO UTC), event_id")
    p.add_argument("--tolerance", type=v.positive_float, default=0.5, help="match tolerance in seconds")
    p.add_argument("--noise-only", nargs="+", metavar="PICKS_DIR",
                   help="seisforge pick outputs on noise-only data: false picks per station-hour")
    p.add_argument("--bootstrap", type=v.nonneg_int, default=1000, help="bootstrap resamples (0: no CIs)")
    p.add_argument("--seed", type=v.seed, default=0)
    p.add_argument("--out", metavar="DIR", help="write metrics.json and per_station.csv here "
                   "(default: PICKS_DIR/bench_continuous)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``seisforge bench continuous``."""
    from seisforge.bench.picking.continuous import evaluate
    from seisforge.runinfo import environment, write_json

    res = evaluate(args.picks, args.catalog, args.tolerance, noise_only=args.noise_only,
                   n_boot=args.bootstrap, seed=args.seed)
    out = Path(args.out) if args.out else Path(args.picks) / "bench_continuous"
    out.mkdir(parents=True, exist_ok=True)
    per_phase, per_station = res.pop("per_phase"), res.pop("per_station_phase")
    per_station.to_csv(out / "per_station.csv", index=False)
    res["per_phase"] = per_phase.to_dict(orient="records")
    res["args"] = {k: v for k, v in vars(args).items() if k != "func"}
    res["environment"] = environment()
    write_json(res, out / "metrics.json")
    print(f"bench continuous: {res['n_picks']} picks vs {res['n_catalog']} reference arrivals "
          f"({res['n_events']} events), tolerance {args.tolerance} s")
    cat = res["catalog"]
    if cat["duplicate_rows"] or cat["unknown_phase_rows"] or cat["renamed_phases"]:
        print(f"  catalog: {cat['rows_read']} rows, {cat['duplicate_rows']} duplicate rows dropped, "
              f"{cat['unknown_phase_rows']} rows with unscored phases {cat['unknown_phases'] or ''} dropped, "
              f"renamed to P/S: {cat['renamed_phases'] or 'none'}")
    for rec in res["per_phase"]:
        print(f"  {rec['phase']:>3}: precision {rec['precision']:.3f} [{rec['precision_ci_low']:.3f}, "
              f"{rec['precision_ci_high']:.3f}]  recall {rec['recall']:.3f} [{rec['recall_ci_low']:.3f}, "
              f"{rec['recall_ci_high']:.3f}]  F1 {rec['f1']:.3f}  (n_ref {rec['n_ref']}, "
              f"false picks {rec['false_picks']})")
    if "noise_only" in res:
        n = res["noise_only"]
        print(f"  noise-only: {n['false_picks']} picks in {n['station_hours']:.2f} station-hours = "
              f"{n['false_picks_per_station_hour']:.3f} false picks per station-hour")
    print(f"-> {out / 'metrics.json'}, {out / 'per_station.csv'}")
    return 0
