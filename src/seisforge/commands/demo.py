"""``seisforge demo``: the main job on built-in (synthetic) data, offline."""

from __future__ import annotations

import argparse

from seisforge.commands import _validate as v


def _demo(args: argparse.Namespace) -> int:
    from seisforge.demo import run_demo

    run_demo(args.out, events=args.events, noise_traces=args.noise_traces, seed=args.seed,
             n_boot=args.bootstrap, train_model=not args.no_train)
    return 0


def register(sub: argparse._SubParsersAction):
    """Add the ``demo`` command."""
    p = sub.add_parser("demo", help="synthesize data, train PhaseNetLight, benchmark it against STA/LTA, leaderboard and figures")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--events", type=v.positive_int, default=400)
    p.add_argument("--noise-traces", type=v.nonneg_int, default=120)
    p.add_argument("--no-train", action="store_true", help="skip training (baselines only)")
    p.add_argument("--seed", type=v.seed, default=0)
    p.add_argument("--bootstrap", type=v.nonneg_int, default=300)
    p.set_defaults(func=_demo)
    return None
