"""``seisforge report PATH... --out REPORT_DIR``: a self-contained HTML report over any outputs."""

from __future__ import annotations

import argparse

from seisforge.commands import _validate as v


def _report(args: argparse.Namespace) -> int:
    from seisforge.report import build_report

    options = {"station": args.station, "hour": args.hour, "gallery_n": args.gallery_n,
               "compare_bootstrap": args.compare_bootstrap}
    index = build_report(args.paths, args.out, title=args.title, options=options, seed=args.seed)
    print(f"report: {index}")
    return 0


def register(sub: argparse._SubParsersAction):
    """Add the ``report`` command."""
    p = sub.add_parser("report", help="one self-contained HTML report (offline) over benchmark, training, "
                                      "tuning, pick and CTF outputs")
    p.add_argument("paths", nargs="+", metavar="PATH", help="output folders (kinds are detected; folders are searched)")
    p.add_argument("--out", required=True, help="report folder; index.html is written there")
    p.add_argument("--title", default="seisforge report")
    p.add_argument("--station", help="continuous picks: station of the waveform strip (default: busiest)")
    p.add_argument("--hour", help="continuous picks: UTC hour of the strip, e.g. 2024-01-01T05 (default: busiest)")
    p.add_argument("--gallery-n", type=v.nonneg_int, default=3, help="windows per waveform-gallery category")
    p.add_argument("--compare-bootstrap", type=v.nonneg_int, metavar="N",
                   help="resamples of the paired comparisons (default: as many as the first model's metrics.json)")
    p.add_argument("--seed", type=v.seed, default=0, help="seed of the gallery's random sample")
    p.set_defaults(func=_report)
    return None
