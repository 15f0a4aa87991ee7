"""``seisforge bench label-efficiency CONFIG.yaml --out DIR [--set k=v]``: the resumable label-efficiency grid."""

from __future__ import annotations

import argparse

EXTENDS = "bench"


def register_verbs(verbs) -> None:
    """Add the ``label-efficiency`` verb to the ``bench`` group."""
    p = verbs.add_parser(
        "label-efficiency",
        help="adaptation arms vs from-scratch per label fraction and seed (resumable grid; table and figures)",
        description="Runs seisforge adapt per (arm, label fraction, seed), scores each on the benchmark "
        "targets (thresholds on dev, test once) with paired event-bootstrap CIs against the scratch arm. "
        "Finished cells are skipped on a rerun. See seisforge.bench.label_efficiency.",
    )
    p.add_argument("config", help="label-efficiency config YAML")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``seisforge bench label-efficiency``."""
    from seisforge.bench.label_efficiency import LabelEfficiencyConfig, run_grid
    from seisforge.config import load_config

    report = run_grid(load_config(LabelEfficiencyConfig, args.config, args.set), args.out)
    print(f"{report.processed} cells run, {sum(report.skipped.values())} already done, "
          f"{sum(report.failed.values())} failed -> {args.out}/label_efficiency.md")
    return 0
