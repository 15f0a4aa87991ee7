"""``seisforge bench catalog`` and ``bench catalog-leaderboard``: event-level scores of a catalog."""

from __future__ import annotations

import argparse

from seisforge.commands import _validate as v

EXTENDS = "bench"


def register_verbs(verbs) -> None:
    """Add ``catalog`` and ``catalog-leaderboard`` to the ``bench`` group."""
    p = verbs.add_parser("catalog", help="event precision/recall/F1, location errors, pick assignment vs a reference",
                         description="Matches events one-to-one (Hungarian, gated by time and distance "
                         "tolerances) and scores them with event-bootstrap CIs. See docs/catalog.md.")
    p.add_argument("--catalog", required=True, metavar="CATALOG_DIR", help="seisforge associate output (or QuakeML)")
    p.add_argument("--reference", required=True, help="catalog.csv (+ arrivals.csv beside it) or QuakeML")
    p.add_argument("--time-tol", type=v.positive_float, default=3.0, help="origin-time tolerance (s, inclusive)")
    p.add_argument("--dist-tol-km", type=v.positive_float, default=15.0, help="epicentral tolerance (km, inclusive)")
    p.add_argument("--pick-tol", type=v.positive_float, default=0.5, help="pick-to-arrival tolerance (s)")
    p.add_argument("--stations", help="stations.csv, drawn on the map")
    p.add_argument("--bootstrap", type=v.nonneg_int, default=1000)
    p.add_argument("--seed", type=v.seed, default=0)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_catalog)
    lb = verbs.add_parser("catalog-leaderboard", help="compare bench catalog outputs with paired CIs")
    lb.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="bench catalog output folders (first = base)")
    lb.add_argument("--names", help="comma-separated names (default: folder names)")
    lb.add_argument("--bootstrap", type=v.nonneg_int, default=1000)
    lb.add_argument("--seed", type=v.seed, default=0)
    lb.add_argument("--out", required=True)
    lb.set_defaults(func=_leaderboard)


def _catalog(args: argparse.Namespace) -> int:
    from seisforge.bench.catalog import evaluate_catalog

    res = evaluate_catalog(args.catalog, args.reference, args.out, args.time_tol, args.dist_tol_km, args.pick_tol,
                           args.bootstrap, args.seed, stations=args.stations)
    m, ci = res["metrics"], res["ci95"]
    print(f"bench catalog: {res['n_found']} found vs {res['n_reference']} reference "
          f"({res['n_reference_visible']} visible), {res['n_matched']} matched")
    for k in ("precision", "recall", "recall_visible", "f1_visible", "origin_time_s_mae", "epicentral_km_mae",
              "depth_km_mae", "pick_precision", "pick_recall"):
        lo, hi = ci.get(k, (float("nan"), float("nan")))
        print(f"  {k:20s} {m.get(k, float('nan')):8.3f}  [{lo:.3f}, {hi:.3f}]")
    print(f"-> {args.out}/catalog_metrics.json, map.png, errors.png, recall_vs_magnitude.png")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from seisforge.bench.catalog import catalog_leaderboard

    paths = catalog_leaderboard(args.run_dirs, args.out, names=args.names.split(",") if args.names else None,
                                n_boot=args.bootstrap, seed=args.seed)
    print(paths[0].read_text())
    return 0
