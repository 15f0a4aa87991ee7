"""``seisforge tune CONFIG.yaml --space SPACE.yaml --samples N [--address RAY_ADDRESS]``."""

from __future__ import annotations

import argparse

from seisforge.commands import _validate as v


def _tune(args: argparse.Namespace) -> int:
    from seisforge.train.tune_picker import tune_picker

    res = tune_picker(args.config, args.space, args.samples, args.out, overrides=args.set, metric=args.metric,
                      address=args.address, cpus_per_trial=args.cpus_per_trial)
    print(f"best {res['metric']}: {res['best_metric']:.5f} with {res['best_config']}")
    print(f"-> {res['best_config_yaml']}\n-> {res['trials_csv']}")
    return 0


def register(sub: argparse._SubParsersAction):
    """Add the ``tune`` command."""
    p = sub.add_parser("tune", help="hyperparameter search for pickers (Ray Tune + ASHA)")
    p.add_argument("config", help="base training config")
    p.add_argument("--space", required=True, help="search space YAML (dotted config keys under params:)")
    p.add_argument("--samples", type=v.positive_int, required=True)
    p.add_argument("--out", default="runs/tune_picker")
    p.add_argument("--metric", default="dev_loss", help="dev metric to minimise")
    p.add_argument("--address", help="existing Ray cluster (default: local Ray)")
    p.add_argument("--cpus-per-trial", type=v.positive_float, default=1.0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=_tune)
    return None
