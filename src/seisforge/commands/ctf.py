"""``seisforge ctf``: the Seismic Wavefield Common Task Framework (simulate, run, tune, leaderboard)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from seisforge.commands import _validate as v

log = logging.getLogger("seisforge.ctf")


def register(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add the ``ctf`` group and its verbs."""
    grp = subparsers.add_parser("ctf", help="wavefield Common Task Framework (E1-E12)")
    sub = grp.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True

    p = sub.add_parser("simulate", help="simulate a dataset in the official CTF layout")
    p.add_argument("kind", choices=["global", "das", "crustal"])
    p.add_argument("--out", required=True, help="CTF top folder: the dataset goes to OUT/data/NAME/NAME.yaml")
    p.add_argument("--name", help="dataset name (default KIND_SIZE, e.g. crustal_small)")
    p.add_argument("--size", default="small", choices=["tiny", "small", "paper"])
    p.add_argument("--seed", type=v.seed, default=0)
    p.add_argument("--format", default="npz", choices=["npz", "npy", "mat"], help="matrix file format")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a simulator parameter (repeatable), e.g. --set dt=0.5")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("run", help="run a model on CTF pairs and score it")
    p.add_argument("--data", required=True, help="CTF dataset folder")
    p.add_argument("--model", required=True, help="zero, mean, last, dmd, lstm, esn, fno, deeponet, chronos")
    p.add_argument("--config", help="model config yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--pairs", default="all", help="all, 4, 1-3 or 1,3,5")
    p.add_argument("--out", required=True,
                   help="CTF top folder: results go to OUT/results/DATASET/MODEL/BATCH_ID/pairN")
    p.add_argument("--batch-id", help="batch folder name (default batch_<UTC yyyymmdd_HHMMSS>)")
    p.add_argument("--seed", type=v.seed, default=0)
    p.add_argument("--validation", action="store_true", help="score on the validation split instead of test")
    p.add_argument("--norm", default="spectral", choices=["spectral", "frobenius"],
                   help="matrix norm of short-time/reconstruction errors (official: spectral)")
    p.add_argument("--log-power", action="store_true", help="long-time score on log power spectra")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("tune", help="tune a model with Ray Tune + ASHA on the validation splits")
    p.add_argument("--data", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--space", required=True, help="search-space yaml")
    p.add_argument("--samples", type=v.positive_int, default=8)
    p.add_argument("--pairs", default="all")
    p.add_argument("--address", default=None, help="Ray cluster address (default: local Ray)")
    p.add_argument("--out", default="runs/ctf_tune", help="folder for trials and best_config.yaml")
    p.add_argument("--seed", type=v.seed, default=0)
    p.add_argument("--max-t", type=v.positive_int, default=None, help="ASHA max budget (default from the space file)")
    p.add_argument("--cpus-per-trial", type=v.positive_float, default=1.0)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("leaderboard", help="E1-E12 + AvgScore tables and figures from result folders")
    p.add_argument("results", nargs="+", help="result folders (searched for batch_results.yaml)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_leaderboard)
    return sub


def cmd_simulate(args: argparse.Namespace) -> int:
    """Handler of ``ctf simulate``."""
    from seisforge.paths import resolve_under
    from seisforge.wavefield.simulate import simulate

    name = args.name or f"{args.kind}_{args.size}"
    out = resolve_under(Path(args.out), Path("data") / name)
    info = simulate(args.kind, out, size=args.size, seed=args.seed, overrides=args.overrides,
                    ext=args.format, progress=lambda label: log.info("%s: simulating %s", args.kind, label))
    rate = info["cell_updates"] / max(info["elapsed_s"], 1e-9)
    print(f"wrote {out} ({args.kind}, {args.size}, seed {args.seed}) in {info['elapsed_s']:.2f} s, "
          f"{rate:.3g} cell-updates/s")
    return 0


def _model_config(args: argparse.Namespace) -> dict:
    from seisforge.config import apply_overrides, load_yaml

    data = load_yaml(args.config) if args.config else {}
    return apply_overrides(data, args.overrides)


def cmd_run(args: argparse.Namespace) -> int:
    """Handler of ``ctf run``."""
    from seisforge.runinfo import RunReport
    from seisforge.wavefield.layout import read_ctf_dataset
    from seisforge.wavefield.models import ModelUnavailable
    from seisforge.wavefield.runner import batch_dir, run_model

    ds = read_ctf_dataset(args.data)
    pairs = ds.parse_pairs(args.pairs)
    cfg = _model_config(args)
    out = batch_dir(args.out, ds.name, args.model, args.batch_id)
    try:
        batch = run_model(ds, args.model, cfg, pairs, out, seed=args.seed, validation=args.validation,
                          norm=args.norm, log_power=args.log_power, progress=True)
    except ModelUnavailable as err:
        report = RunReport(command=f"ctf run {args.model}")
        report.skip("model_unavailable", key=args.model)
        report.notes["reason"] = str(err)
        out.mkdir(parents=True, exist_ok=True)
        report.write(out / "run_report.json")
        print(f"skipped model {args.model}: {err}")
        return 0
    es = batch["E"]
    shown = " ".join(f"{k}={v:.1f}" for k, v in es.items() if v is not None)
    avgs = [(label, batch[key]) for label, key in (("AvgScore(official mean)", "avg_score_official"),
                                                   ("AvgScore(clipped)", "avg_score_clipped"))]
    print(f"{ds.name}/{args.model}: {shown}" + "".join(f" | {k}={v:.2f}" for k, v in avgs if v is not None))
    print(f"-> {out}")
    fails = [p for p in batch["pairs"] if p.get("failure")]
    for p in fails:
        print(f"pair {p['pair_id']}: {p['failure']} (scored -100)")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    """Handler of ``ctf tune``."""
    from seisforge.wavefield.tune import tune_ctf

    best = tune_ctf(args.data, args.model, args.space, args.samples, pairs=args.pairs, address=args.address,
                    out=args.out, seed=args.seed, max_t=args.max_t, cpus_per_trial=args.cpus_per_trial)
    print(f"best validation score sum {best['score']:.2f} with {best['config']} -> {best['path']}")
    if best["errored_trials"]:
        print(f"{best['errored_trials']} trial(s) errored; see best.yaml and the Ray trial folders")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Handler of ``ctf leaderboard``."""
    from seisforge.wavefield.ctf_leaderboard import ctf_leaderboard

    res = ctf_leaderboard(args.results, args.out)
    print(f"{res['runs']} run(s): {res['markdown']}, {res['csv']}, {len(res['figures'])} figure(s)")
    return 0
