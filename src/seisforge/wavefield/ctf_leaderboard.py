"""Leaderboard over ``ctf run`` result folders: E1-E12 + AvgScore tables (Markdown, CSV) and figures.

Two AvgScores, named apart: ``AvgScore (official mean)``, the plain mean of E1-E12 as ``ctf4science``
computes it (NaN when an E is missing), and ``AvgScore (clipped)``, each E clipped to [-100, 100] and
a missing E counted -100. Tables are ordered by the clipped one, which one diverging long-time score
cannot dominate.

Figures (matplotlib, Agg): ``heatmap.png`` (rows dataset/model, columns E1-E12 and Avg) and, for each
run whose dataset folder is still present, ``panels_<dataset>_<model>.png``: truth, prediction and
error of pair 1 as space-time images.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seisforge.errors import DataError
from seisforge.wavefield.scores import avg_score, e_scores, official_avg_score

E_COLS = [f"E{i}" for i in range(1, 13)]


def find_runs(paths: list[str | Path]) -> list[Path]:
    """Result folders (holding ``batch_results.yaml``) under each path, sorted, without duplicates."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise DataError(f"results folder not found: {p}")
        hits = [p / "batch_results.yaml"] if (p / "batch_results.yaml").is_file() else sorted(
            p.rglob("batch_results.yaml")
        )
        if not hits:
            raise DataError(f"no batch_results.yaml under {p}")
        found.extend(h.parent.resolve() for h in hits)
    return sorted(set(found))


def load_run(run_dir: Path) -> dict[str, Any]:
    """Read one run's batch results and recompute E1-E12 and AvgScore from its pair metrics."""
    data = yaml.safe_load((run_dir / "batch_results.yaml").read_text()) or {}
    if not isinstance(data, dict) or "pairs" not in data:
        raise DataError(f"{run_dir}/batch_results.yaml: missing 'pairs'")
    by_pair = {int(p["pair_id"]): p.get("metrics", {}) for p in data["pairs"]}
    es = e_scores(by_pair)
    missing = [k for k, v in es.items() if math.isnan(v)]
    failures = [f"pair{p['pair_id']}: {p['failure']}" for p in data["pairs"] if p.get("failure")]
    return {
        "dir": run_dir, "dataset": str(data.get("dataset", "?")), "model": str(data.get("model", "?")),
        "split": data.get("split", "test"), "data_dir": data.get("data_dir"), "E": es,
        "avg": avg_score(es), "avg_official": official_avg_score(es), "missing": missing, "failures": failures,
        "batch_id": str(data.get("batch_id") or run_dir.name), "label": str(data.get("model", "?")),
    }


def _disambiguate(runs: list[dict[str, Any]]) -> None:
    """Add the batch id to the label of runs sharing dataset and model."""
    seen: dict[tuple[str, str], int] = {}
    for r in runs:
        seen[(r["dataset"], r["model"])] = seen.get((r["dataset"], r["model"]), 0) + 1
    for r in runs:
        if seen[(r["dataset"], r["model"])] > 1:
            r["label"] = f"{r['model']} ({r['batch_id']})"


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"


def write_tables(runs: list[dict[str, Any]], out: Path) -> tuple[Path, Path]:
    """Write ``leaderboard.csv`` and ``leaderboard.md`` (one table per dataset, best AvgScore first)."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "leaderboard.csv", out / "leaderboard.md"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "model", "label", "batch_id", "split", *E_COLS, "AvgScore_official_mean",
                    "AvgScore_clipped", "missing", "failures", "dir"])
        for r in runs:
            w.writerow([r["dataset"], r["model"], r["label"], r["batch_id"], r["split"],
                        *[r["E"][c] for c in E_COLS], r["avg_official"], r["avg"],
                        " ".join(r["missing"]), "; ".join(r["failures"]), str(r["dir"])])
    lines = ["# CTF leaderboard", "",
             "Scores are 100·(1 − E). AvgScore (official mean): the plain mean of E1–E12, as ctf4science "
             "computes it. AvgScore (clipped): each E clipped to [−100, 100], a missing or failed E counts −100; "
             "rows are ordered by it.", ""]
    for ds in sorted({r["dataset"] for r in runs}):
        lines += [f"## {ds}", "", "| model | " + " | ".join(E_COLS)
                  + " | AvgScore (official mean) | AvgScore (clipped) |", "|---" * (len(E_COLS) + 3) + "|"]
        for r in sorted((r for r in runs if r["dataset"] == ds), key=lambda r: -r["avg"]):
            name = r["label"] + (" [validation]" if r["split"] == "validation" else "")
            lines.append(f"| {name} | " + " | ".join(_fmt(r["E"][c]) for c in E_COLS)
                         + f" | {_fmt(r['avg_official'])} | {r['avg']:.1f} |")
        notes = [f"- {r['label']}: {f}" for r in runs if r["dataset"] == ds for f in r["failures"]]
        lines += [""] + (["Failures (scored −100):", *notes, ""] if notes else [])
    md_path.write_text("\n".join(lines))
    return csv_path, md_path


def heatmap(runs: list[dict[str, Any]], path: Path) -> Path:
    """Heatmap of E1-E12 and AvgScore per dataset/model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['dataset']}/{r['label']}" for r in runs]
    vals = np.array([[r["E"][c] for c in E_COLS] + [r["avg"]] for r in runs], dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * 13, 1.0 + 0.45 * len(runs)))
    im = ax.imshow(np.clip(vals, -100, 100), cmap="PuOr", vmin=-100, vmax=100, aspect="auto")
    ax.set_xticks(range(13), E_COLS + ["Avg (clipped)"])
    ax.set_yticks(range(len(runs)), labels)
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            ax.text(j, i, _fmt(vals[i, j]), ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="score")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def forecast_panels(run: dict[str, Any], path: Path, pair_id: int = 1) -> Path | None:
    """Truth / prediction / error space-time images of one pair; None when the data is not available."""
    from seisforge.wavefield.layout import read_ctf_dataset

    pred_file = run["dir"] / f"pair{pair_id}" / "predictions.npy"
    if not run.get("data_dir") or not Path(run["data_dir"]).is_dir() or not pred_file.is_file():
        return None
    ds = read_ctf_dataset(run["data_dir"])
    if pair_id not in ds.pairs:
        return None
    truth = ds.test(pair_id)
    pred = np.load(pred_file, allow_pickle=False)
    if pred.shape != truth.shape:
        raise DataError(f"{pred_file}: shape {pred.shape} does not match truth {truth.shape}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lim = float(np.max(np.abs(truth))) or 1.0
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for ax, img, title in zip(axes, [truth, pred, pred - truth], ["truth", "prediction", "prediction − truth"]):
        im = ax.imshow(img, aspect="auto", cmap="seismic", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(f"{title}")
        ax.set_xlabel("channel")
    axes[0].set_ylabel("time step")
    fig.colorbar(im, ax=axes, shrink=0.8)
    fig.suptitle(f"{run['dataset']} / {run['model']} / pair {pair_id}")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def ctf_leaderboard(paths: list[str | Path], out: str | Path) -> dict[str, Any]:
    """Build tables and figures for the runs under ``paths`` into ``out``."""
    out = Path(out)
    runs = [load_run(d) for d in find_runs(paths)]
    _disambiguate(runs)
    csv_path, md_path = write_tables(runs, out)
    figs = [heatmap(runs, out / "heatmap.png")]
    used: set[str] = set()
    for r in runs:
        stem, n = f"panels_{r['dataset']}_{r['model']}", 2
        name = stem
        while name in used:
            name, n = f"{stem}_{n}", n + 1
        used.add(name)
        p = forecast_panels(r, out / f"{name}.png")
        if p is not None:
            figs.append(p)
    return {"runs": len(runs), "csv": csv_path, "markdown": md_path, "figures": figs}
