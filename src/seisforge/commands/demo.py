"""``seisforge demo``: the main job on built-in (synthetic) data, offline."""

from __future__ import annotations

import argparse


def _demo(args: argparse.Namespace) -> int:
    from seisforge.demo import run_demo

    run_demo(args.out, events=args.events, noise_traces=args.noise_traces, seed=args.seed,
             n_boot=args.bootstrap)
    return 0


def register(sub: argparse._SubParsersAction):
    """Add the ``demo`` command."""
    p = sub.add_parser("demo", help="synthesize data, benchmark pickers, write leaderboard and figures")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--events", type=int, default=150)
    p.add_argument("--noise-traces", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bootstrap", type=int, default=300)
    p.set_defaults(func=_demo)
    return None
