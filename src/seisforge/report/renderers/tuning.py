"""Tuning runs (``seisforge tune`` / ``ctf tune``): trials, the ASHA stopping picture, the best config."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from seisforge.report import page
from seisforge.report.core import Context, Section, esc, register


def _summary(path: Path) -> dict:
    f = path / "tune_summary.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def _metric(trials: pd.DataFrame, summary: dict) -> str | None:
    if summary.get("metric") in trials:
        return summary["metric"]
    for c in ("dev_loss", "score", "objective"):
        if c in trials:
            return c
    return None


def _histories(path: Path, trials: pd.DataFrame, metric: str) -> dict[str, pd.DataFrame]:
    """Per-trial metric per epoch from the trial run folders (``trials/trial_<id>/metrics.csv``)."""
    out = {}
    for tid in trials.get("trial_id", pd.Series(dtype=str)).astype(str):
        f = path / "trials" / f"trial_{tid}" / "metrics.csv"
        if f.is_file():
            m = pd.read_csv(f)
            if metric in m:
                out[tid] = m
    return out


def asha_figure(trials: pd.DataFrame, metric: str, hist: dict[str, pd.DataFrame]):
    """Objective per budget step, one line per trial; trials ASHA stopped end early (marked x)."""
    from seisforge.bench.report import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    budget = int(trials["training_iteration"].max()) if "training_iteration" in trials else 1
    for k, (_, t) in enumerate(trials.iterrows()):
        tid = str(t.get("trial_id", k))
        color = f"C{k % 8}"
        if tid in hist:
            h = hist[tid]
            x, y = h["epoch"] if "epoch" in h else range(1, len(h) + 1), h[metric]
            ax.plot(x, y, marker="o", ms=3, color=color, label=tid)
            last_x, last_y = list(x)[-1], list(y)[-1]
        else:
            last_x, last_y = t.get("training_iteration", 1), t[metric]
            ax.plot([last_x], [last_y], "o", color=color, label=tid)
        if last_x < budget:
            ax.plot([last_x], [last_y], "x", color="k", ms=8)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("budget step (training iteration = epoch)")
    ax.set_ylabel(f"{metric} (objective)")
    ax.set_title("ASHA: x = trial stopped early")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def tune_html(path: Path) -> str:
    trials = pd.read_csv(path / "trials.csv")
    summary = _summary(path)
    metric = _metric(trials, summary)
    keep = [c for c in trials.columns if c in ("trial_id", "training_iteration", metric) or c.startswith("config/")]
    parts = [page.heading(f"Tuning run {path.name}")]
    if summary:
        parts.append(page.note(f"Objective {esc(summary.get('metric'))} (dev data); best value "
                               f"{esc(summary.get('best_metric'))}; {len(summary.get('errors') or [])} trial errors."))
    parts.append(page.table(keep, trials[keep].astype(object).where(trials[keep].notna(), None).values.tolist(),
                            table_id=f"trials-{path.name}"))
    if metric is not None:
        parts.append(page.figure(asha_figure(trials, metric, _histories(path, trials, metric)),
                                 f"Objective <code>{esc(metric)}</code> of each trial per budget step; trials that "
                                 "end before the largest budget were stopped early by ASHA (marked x)."))
    for name in ("best_config.yaml", "best.yaml"):
        if (path / name).is_file():
            parts.append(page.pre((path / name).read_text(), f"best config ({name})"))
    return "".join(parts)


@register
class TuningRenderer:
    kind = "tuning"
    title = "Tuning runs"
    order = 30

    def detect(self, path: Path) -> bool:
        return path.is_dir() and (path / "trials.csv").is_file() and any(
            (path / n).is_file() for n in ("best_config.yaml", "tune_summary.json"))

    def render(self, paths: list[Path], ctx: Context) -> Section:
        sec = Section(self.kind, self.title)
        for p in paths:
            sec.add(tune_html(p))
        return sec
