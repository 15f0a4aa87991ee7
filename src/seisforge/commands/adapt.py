"""``seisforge adapt CONFIG.yaml [--set k=v] [--resume RUN_DIR]`` and ``seisforge adapt merge RUN_DIR --out DIR``."""

from __future__ import annotations

import argparse

from seisforge.errors import ConfigError


def _adapt(args: argparse.Namespace) -> int:
    from seisforge.config import load_run_config
    from seisforge.train.adapt.run import AdaptRunConfig, adapt, merge_run

    if args.config == "merge":
        if not args.run_dir or not args.out:
            raise ConfigError("usage: seisforge adapt merge RUN_DIR --out DIR")
        out = merge_run(args.run_dir, args.out)
        print(f"merged model: {out / 'best'} (use --model run:{out})")
        return 0
    if args.run_dir:
        raise ConfigError(f"unexpected argument {args.run_dir!r} (only `adapt merge` takes a run directory)")
    cfg = load_run_config(AdaptRunConfig, args.config, args.resume, args.set, command="seisforge adapt")
    run_dir = adapt(cfg, resume=args.resume, overrides=args.set)
    print(f"run directory: {run_dir}")
    if cfg.task == "picking":
        print(f"adapted model: {run_dir / 'best'} (use --model run:{run_dir})")
        return 0
    if _finished(run_dir, cfg):  # not stopped by train.stop_after_steps
        _score(run_dir)
    else:
        print(f"stopped before the end of training; continue with seisforge adapt --resume {run_dir}")
    return 0


def _finished(run_dir, cfg) -> bool:
    """True when training ended (last epoch or early stopping), from the run's checkpoint."""
    import json

    from seisforge.train.loop import read_checkpoint

    state = json.loads(read_checkpoint(run_dir)["state"])
    return state["epoch"] >= cfg.train.epochs or state["bad_epochs"] >= cfg.train.patience


def _score(run_dir) -> None:
    """Score a finished detection/magnitude run once (dev-tuned threshold, eval split) and print it."""
    from seisforge.bench.tasks import METRICS_FILE, score_task_run

    res = score_task_run(run_dir)
    split = res["eval_split"] or "dev"
    part = res.get("eval") or res["dev"]
    keys = ("auc", "f1", "precision", "recall") if res["task"] == "detection" else ("mae", "rmse", "bias")
    ci = part.get("ci95", {})
    shown = "  ".join(f"{k} {part[k]:.3f}" + (f" [{ci[k][0]:.3f}, {ci[k][1]:.3f}]" if k in ci else "")
                      for k in keys)
    print(f"{res['task']} on {split}: {shown} ({run_dir / METRICS_FILE})")
    if res.get("eval_note"):
        print(f"note: {res['eval_note']}")


def register(sub: argparse._SubParsersAction):
    """Add the ``adapt`` command (and its ``merge`` form)."""
    p = sub.add_parser("adapt", help="adapt a pretrained encoder or SeisBench picker to a task "
                                     "(linear_probe, partial, full, lora, dora, bitfit, ia3, adapter, prompt); "
                                     "`adapt merge RUN_DIR --out DIR` folds a mergeable adapter into plain weights")
    p.add_argument("config", nargs="?", help="adaptation config YAML, or `merge`")
    p.add_argument("run_dir", nargs="?", help="with `merge`: the adaptation run directory")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set adapt.method=lora --set label_fraction=0.1")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue from RUN_DIR/checkpoints/last.pt")
    p.add_argument("--out", metavar="DIR", help="with `merge`: output run directory")
    p.set_defaults(func=_adapt)
    return None
