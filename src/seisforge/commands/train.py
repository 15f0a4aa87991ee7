"""``seisforge train CONFIG.yaml [--set key=value ...] [--resume RUN_DIR]``."""

from __future__ import annotations

import argparse


def _train(args: argparse.Namespace) -> int:
    from seisforge.config import load_run_config
    from seisforge.train.config import TrainConfig
    from seisforge.train.loop import train

    cfg = load_run_config(TrainConfig, args.config, args.resume, args.set)
    run_dir = train(cfg, resume=args.resume, overrides=args.set)
    print(f"run directory: {run_dir}")
    print(f"selected model: {run_dir / 'best'} (use --model run:{run_dir})")
    return 0


def register(sub: argparse._SubParsersAction):
    """Add the ``train`` command."""
    p = sub.add_parser("train", help="train or fine-tune a SeisBench picker from a YAML config")
    p.add_argument("config", nargs="?", help="training config YAML (not needed with --resume)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set data.path=DIR --set seed=3")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue from RUN_DIR/checkpoints/last.pt")
    p.set_defaults(func=_train)
    return None
