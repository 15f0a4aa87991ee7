"""Training and adaptation runs (``runs/<name>/``): per-epoch curves, config, data hash, model card, accounting."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from seisforge.report import page
from seisforge.report.core import Context, Section, esc, register

LOSSES = ("train_loss", "dev_loss")


def is_run_dir(path: Path) -> bool:
    return (path / "metrics.csv").is_file() and (path / "config.resolved.yaml").is_file()


def curves_figure(runs: dict[str, pd.DataFrame]):
    """Loss (left) and dev residual metrics (right) per epoch, one colour per run."""
    from matplotlib.ticker import MaxNLocator

    from seisforge.bench.report import pyplot

    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    for k, (name, m) in enumerate(runs.items()):
        color = f"C{k % 8}"
        for col, ls, mk in zip(LOSSES, ("-", "--"), ("o", "s")):
            if col in m:
                a.plot(m["epoch"], m[col], ls, marker=mk, ms=4, color=color, label=f"{name} {col}")
        for col, ls, mk in (("dev_P_mae_s", "-", "o"), ("dev_S_mae_s", ":", "s")):
            if col in m:
                b.plot(m["epoch"], m[col], ls, marker=mk, ms=4, color=color, label=f"{name} {col[4:]}")
    a.set_ylabel("loss (config loss.kind, mean per window)")
    b.set_ylabel("dev residual MAE (s)")
    for ax in (a, b):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        return None


def run_html(name: str, run: Path) -> str:
    """Config, data hash, model card, accounting and the metrics table of one run."""
    parts = [page.heading(f"Run {name}")]
    m = pd.read_csv(run / "metrics.csv")
    best = _json(run / "best" / "seisforge.json") or {}
    if best:
        parts.append(page.note(f"Best model: epoch {esc(best.get('epoch'))}, "
                               f"{esc(best.get('selection_metric'))} = {esc(best.get('selection_value'))} "
                               "(selected on dev)."))
    sha = (run / "data.sha256").read_text().strip() if (run / "data.sha256").is_file() else "not recorded"
    parts.append(page.note(f"Training data hash (sha256 of the sorted trace list): <code>{esc(sha)}</code>"))
    parts.append(page.table(list(m.columns), m.astype(object).where(m.notna(), None).values.tolist(),
                            table_id=f"metrics-{name}"))
    card = _json(run / "model_card.json") or _json(run / "best" / "model_card.json")
    if card:
        parts.append(page.pre(json.dumps(card, indent=2), "model card (model_card.json)"))
    else:
        parts.append(page.note("No model card in this run folder."))
    acc = _json(run / "accounting.json") or (card or {}).get("accounting")
    if acc:
        parts.append(page.heading("Parameter accounting") + page.key_values(acc))
    parts.append(page.pre((run / "config.resolved.yaml").read_text(), "resolved config (config.resolved.yaml)"))
    env = _json(run / "env.json")
    if env:
        parts.append(page.pre(json.dumps(env, indent=2, default=str), "environment (env.json)"))
    return "".join(parts)


@register
class TrainingRenderer:
    kind = "training"
    title = "Training and adaptation runs"
    order = 20

    def detect(self, path: Path) -> bool:
        return path.is_dir() and is_run_dir(path)

    def render(self, paths: list[Path], ctx: Context) -> Section:
        sec = Section(self.kind, self.title)
        names = [p.name for p in paths]
        names = [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in paths]
        frames = {n: pd.read_csv(p / "metrics.csv") for n, p in zip(names, paths)}
        sec.add(page.figure(curves_figure(frames),
                            "Per-epoch training (solid, o) and dev (dashed, s) loss (left) and dev pick-residual MAE "
                            "of P (solid) and S (dotted) in seconds (right), from each run's metrics.csv."))
        for n, p in zip(names, paths):
            sec.add(run_html(n, p))
        return sec
