"""Real-data fine-tuning study: PhaseNetLight ETHZ teacher fine-tuned on the NCEDC sample.

Usage: ``python experiments/ncedc_finetune.py [--shared ../shared] [--out runs/ncedc_study] [--seed 0]``

Steps (all through the seisforge CLI, so every step leaves its normal artefacts):
convert (event-level splits) -> targets -> teacher predictions -> three fine-tuning variants
(hard-CE + KD, soft-CE + KD, soft-CE without KD) -> ensemble of the two best **by dev loss** ->
predict/score all on test -> paired differences against the teacher -> leaderboard. Writes
``OUT/study.md`` with every metric, CI and paired difference.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

from seisforge.cli import main as cli

VARIANTS = {
    "hardce_kd": ["loss.kind=hard_ce", "optim.lr=0.0001"],
    "softce_kd": ["loss.kind=soft_ce"],
    "softce_nokd": ["loss.kind=soft_ce", "loss.kd.teacher=null"],
}
HEADLINE = ["test_P_recall", "test_S_recall", "test_P_cond_mae_s", "test_S_cond_mae_s",
            "test_P_cond_outlier_frac_1s", "test_S_cond_outlier_frac_1s", "test_P_mae_s", "test_S_mae_s",
            "test_phase_mcc"]
HIGHER_BETTER = {"test_P_recall", "test_S_recall", "test_phase_mcc"}


def run(cmd: list[str]) -> None:
    print("$ seisforge " + " ".join(cmd))
    code = cli(cmd)
    if code:
        raise SystemExit(f"command failed ({code}): {cmd}")


def best_dev_loss(run_dir: Path) -> float:
    with open(run_dir / "metrics.csv") as f:
        return min(float(r["dev_loss"]) for r in csv.DictReader(f))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--out", default="runs/ncedc_study")
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--split-seed", type=int, default=0, help="seed of the event-level split")
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()
    shared, out = Path(args.shared), Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    src = shared / "data/ncedc_phasenet_sample"
    weights = shared / "models/phasenetlight_ethz/ethz"
    data, targets, preds = out / "data", out / "targets", out / "pred"
    run(["data", "convert", "phasenet-npz", str(src), "--picks", str(src / "picks.csv"), "--out", str(data),
         "--split", "auto", "--seed", str(args.split_seed)])
    run(["bench", "targets", str(data), "--out", str(targets), "--seed", "42"])
    run(["bench", "predict", "--dataset", str(data), "--targets", str(targets), "--model",
         "seisbench:PhaseNetLight", "--weights", str(weights), "--out", str(preds / "teacher")])
    runs = {}
    for name, sets in VARIANTS.items():
        over = [f"data.path={data}", f"run.root={out / 'runs'}", f"run.name={name}", f"seed={args.seed}",
                f"model.weights={weights}", f"loss.kd.teacher_weights={weights}"] + sets
        run(["train", "configs/finetune_ncedc.yaml"] + sum((["--set", o] for o in over), []))
        runs[name] = out / "runs" / name
        run(["bench", "predict", "--dataset", str(data), "--targets", str(targets), "--model",
             f"run:{runs[name]}", "--out", str(preds / name)])
    ranked = sorted(runs, key=lambda n: best_dev_loss(runs[n]))  # model selection on dev only
    ens = f"ensemble_{ranked[0]}+{ranked[1]}"
    run(["bench", "predict", "--dataset", str(data), "--targets", str(targets), "--model",
         f"ensemble:run:{runs[ranked[0]]},run:{runs[ranked[1]]}", "--out", str(preds / ens)])
    names = ["teacher", *VARIANTS, ens]
    for n in names:
        run(["bench", "score", str(preds / n), "--bootstrap", str(args.bootstrap)])
    run(["bench", "compare", str(preds / "teacher")] + [str(preds / n) for n in names[1:]]
        + ["--out", str(out / "compare"), "--bootstrap", str(args.bootstrap)])
    run(["bench", "leaderboard"] + [str(preds / n) for n in names] + ["--out", str(out / "leaderboard")])
    metrics = {n: json.loads((preds / n / "metrics.json").read_text()) for n in names}
    compare = {Path(c["other"]).name: c for c in json.loads((out / "compare/compare.json").read_text())}
    lines = ["| model | " + " | ".join(HEADLINE) + " | dominates teacher |", "|---" * (len(HEADLINE) + 2) + "|"]
    for n in names:
        m, ci = metrics[n]["metrics"], metrics[n]["ci95"]
        cells = []
        for k in HEADLINE:
            v = m.get(k)
            lo, hi = ci.get(k, [None, None])
            cells.append("n/a" if v is None else (f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if lo is not None else f"{v:.3f}"))
        dom = ""
        if n != "teacher":
            t = metrics["teacher"]["metrics"]
            ok = all((m[k] >= t[k]) if k in HIGHER_BETTER else (m[k] <= t[k]) for k in HEADLINE[:6]
                     if m.get(k) is not None and t.get(k) is not None)
            dom = "yes" if ok else "no"
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {dom} |")
    diff = ["| model | metric | delta vs teacher | 95% CI |", "|---|---|---|---|"]
    for n in names[1:]:
        for k in HEADLINE:
            if k in compare[n]["delta"]:
                lo, hi = compare[n]["ci95"][k]
                diff.append(f"| {n} | {k} | {compare[n]['delta'][k]:+.3f} | [{lo:+.3f}, {hi:+.3f}] |")
    text = (f"# NCEDC fine-tuning study (training seed {args.seed}, split seed {args.split_seed})\n\nEnsemble members chosen by dev loss: "
            f"{ranked[0]}, {ranked[1]}.\n\n## Test metrics (95% event-bootstrap CIs)\n\n" + "\n".join(lines)
            + "\n\n## Paired differences against the teacher\n\n" + "\n".join(diff) + "\n")
    (out / "study.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
