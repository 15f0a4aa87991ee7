"""``seisforge pretrain CONFIG.yaml [--set key=value ...] [--resume RUN_DIR]``."""

from __future__ import annotations

import argparse


def _pretrain(args: argparse.Namespace) -> int:
    from seisforge.config import load_run_config
    from seisforge.train.pretrain.config import PretrainConfig
    from seisforge.train.pretrain.loop import pretrain

    cfg = load_run_config(PretrainConfig, args.config, args.resume, args.set, command="seisforge pretrain")
    run_dir = pretrain(cfg, resume=args.resume, overrides=args.set)
    print(f"run directory: {run_dir}")
    print(f"encoder: {run_dir / 'encoder.safetensors'} (adapt it with seisforge adapt, base run:{run_dir})")
    return 0


def register(sub: argparse._SubParsersAction):
    """Add the ``pretrain`` command."""
    p = sub.add_parser("pretrain", help="self-supervised pretraining of an encoder on unlabelled waveforms")
    p.add_argument("config", nargs="?", help="pretraining config YAML (not needed with --resume)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set data.paths=[DIR] --set seed=3")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue from RUN_DIR/checkpoints/last.pt")
    p.set_defaults(func=_pretrain)
    return None
