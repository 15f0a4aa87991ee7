"""``seisforge bench ...``: targets, predict, score, leaderboard."""

from __future__ import annotations

import argparse

from seisforge.commands import _validate as v


def _targets(args: argparse.Namespace) -> int:
    from seisforge.bench.picking.targets import generate_targets

    report = generate_targets(args.dataset, args.out, seed=args.seed, sampling_rate=args.sampling_rate,
                              splits=args.splits, generator=args.generator,
                              second_event_targets=args.second_event_targets,
                              noise_after_events=args.noise_after_events)
    n = report.to_dict()["notes"]
    sources = f"\ntask1 window sources: {n['task1_window_sources']}" if "task1_window_sources" in n else ""
    print(f"task1: {n['task1_rows']}\ntask23: {n['task23_rows']}{sources}\n-> {args.out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from seisforge.bench.picking.predict import predict

    calibration = None
    if args.calibrated is not None:  # the model card's post-hoc calibration (bench calibrate)
        from seisforge.bench.picking.calibration import card_calibration

        calibration = card_calibration(args.calibrated or None, args.model, args.weights)
    report = predict(args.dataset, args.targets, args.model, args.out, weights=args.weights,
                     pretrained=args.pretrained, batch_size=args.batch_size, device=args.device,
                     num_workers=args.workers, splits=args.splits, preload=not args.no_preload,
                     calibration=calibration)
    d = report.to_dict()
    print(f"predicted {d['processed']} windows -> {args.out} (skipped: {d['skipped'] or 0}; "
          f"handled: {d['handled'] or 0})")
    return 0


def _score(args: argparse.Namespace) -> int:
    from seisforge.bench.picking.score import score

    result = score(args.pred_dir, n_boot=args.bootstrap, seed=args.seed, train_manifest=args.train_manifest)
    print(f"domain: {result['domain']}")
    m, ci = result["metrics"], result["ci95"]
    for key in ("test_det_auc", "test_det_f1", "test_phase_mcc", "test_P_mae_s", "test_P_std_s", "test_P_recall",
                "test_P_cond_mae_s", "test_S_mae_s", "test_S_std_s", "test_S_recall", "test_S_cond_mae_s"):
        if key in m:
            lo, hi = ci.get(key, (float("nan"), float("nan")))
            print(f"{key:22s} {m[key]:8.4f}  [{lo:.4f}, {hi:.4f}]")
    for key, why in result["reasons"].items():
        print(f"note: {key}: {why}")
    print(f"-> {args.pred_dir}/metrics.json")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from seisforge.bench.report import leaderboard

    paths = leaderboard(args.pred_dirs, args.out, names=list(args.names) if args.names else None)
    for p in paths:
        print(p)
    return 0


def _compare(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from seisforge.bench.picking.score import paired_compare

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| model | metric | delta vs base | 95% CI |", "|---|---|---|---|"]
    results = []
    for other in args.others:
        res = paired_compare(args.base, other, n_boot=args.bootstrap, seed=args.seed)
        results.append(res)
        for k, delta in res["delta"].items():
            lo, hi = res["ci95"].get(k, (float("nan"), float("nan")))
            lines.append(f"| {Path(other).name} | {k} | {delta:+.4f} | [{lo:+.4f}, {hi:+.4f}] |")
    (out / "compare.json").write_text(json.dumps(results, indent=2, default=float))
    (out / "compare.md").write_text(f"# Paired differences against {args.base}\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"-> {out}/compare.md")
    return 0


def register(sub: argparse._SubParsersAction):
    """Add the ``bench`` group."""
    group = sub.add_parser("bench", help="picking benchmark (pick-benchmark compatible)")
    verbs = group.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True

    t = verbs.add_parser("targets", help="task1.csv/task23.csv evaluation targets")
    t.add_argument("dataset", help="SeisBench dataset folder or name")
    t.add_argument("--out", required=True)
    t.add_argument("--seed", type=v.seed, default=42)
    t.add_argument("--sampling-rate", type=v.positive_float, default=100.0, help="Hz")
    t.add_argument("--splits", type=v.name_list, default=("dev", "test"))
    t.add_argument("--generator", choices=("seisforge", "pick-benchmark"), default="seisforge",
                   help="pick-benchmark: the same windows as its generate_eval_targets.py for the same seed")
    t.add_argument("--second-event-targets", action="store_true",
                   help="also make second-event arrivals (p2/s2) targets; pick-benchmark ignores them")
    t.add_argument("--noise-after-events", type=v.nonneg_float, default=None, metavar="GUARD_S",
                   help="seisforge addition (off by default): also cut a task-1 noise window after the last "
                        "label + GUARD_S seconds of traces with P and S labels, and record window_source")
    t.set_defaults(func=_targets)

    p = verbs.add_parser("predict", help="predict target windows with a model")
    p.add_argument("--dataset", required=True)
    p.add_argument("--targets", required=True)
    p.add_argument("--model", required=True,
                   help="model spec: seisbench:<Class> | <Class> | stalta[:aic|:baer] | run:RUN_DIR | "
                   "ensemble:SPEC1,SPEC2 (grammar: seisforge.models.registry)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--weights", help="SeisBench weight pair, e.g. .../ethz for ethz.json.v2 + ethz.pt.v2")
    w.add_argument("--pretrained", help="SeisBench hub weights name (needs network or cache)")
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=v.positive_int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=v.nonneg_int, default=0, help="DataLoader worker processes")
    p.add_argument("--splits", type=v.name_list, default=("dev", "test"))
    p.add_argument("--no-preload", action="store_true",
                   help="read traces window by window instead of preloading those the targets use")
    p.add_argument("--calibrated", nargs="?", const="", metavar="CARD",
                   help="apply the model card's calibration (bench calibrate) to the written probabilities; "
                   "CARD defaults to RUN_DIR/model_card.json or model_card.json beside --weights")
    p.set_defaults(func=_predict)

    s = verbs.add_parser("score", help="metrics.json with bootstrap CIs")
    s.add_argument("pred_dir")
    s.add_argument("--bootstrap", type=v.nonneg_int, default=1000, help="event-level resamples (0: none)")
    s.add_argument("--seed", type=v.seed, default=0)
    s.add_argument("--train-manifest", help="training manifest, to label results in-domain/cross-domain "
                   "(run: models are checked against their own trace list automatically)")
    s.set_defaults(func=_score)

    lb = verbs.add_parser("leaderboard", help="Markdown/CSV leaderboard and figures")
    lb.add_argument("pred_dirs", nargs="+")
    lb.add_argument("--out", required=True)
    lb.add_argument("--names", type=v.name_list, help="comma-separated display names (default: folder names)")
    lb.set_defaults(func=_leaderboard)
    c = verbs.add_parser("compare", help="paired differences against a base model (event bootstrap)")
    c.add_argument("base", help="prediction folder of the reference model (e.g. the teacher)")
    c.add_argument("others", nargs="+", help="prediction folders to compare")
    c.add_argument("--out", required=True)
    c.add_argument("--bootstrap", type=v.nonneg_int, default=1000)
    c.add_argument("--seed", type=v.seed, default=0)
    c.set_defaults(func=_compare)
    return verbs
