"""Picking benchmark: leaderboard with CIs, paired comparisons, figures, per-bin table, waveform gallery.

Inputs: prediction folders (``bench predict`` + ``bench score``: ``metrics.json``), leaderboard folders
(``bench leaderboard``) and comparison folders (``bench compare``). Numbers come from ``metrics.json``
and the prediction CSVs through :mod:`seisforge.bench` (the figures are ``bench.report``'s, the paired
differences ``bench.picking.score.paired_compare``), never from a second implementation.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.report import page
from seisforge.report.core import Context, Section, esc, register

CI_CAPTION = ("Brackets and error bars: 95% confidence intervals from an event-level (cluster) bootstrap "
              "of the test set ({n} resamples; noise traces are their own clusters). Thresholds were "
              "chosen on dev and applied unchanged to test.")


def is_pred_dir(path: Path) -> bool:
    if (path / "metrics.json").is_file():
        try:
            return str(json.loads((path / "metrics.json").read_text()).get("schema", "")).startswith(
                "seisforge.metrics/")
        except (ValueError, AttributeError):
            return False
    return (path / "test_task23.csv").is_file() or (path / "test_task1.csv").is_file()


def is_leaderboard_dir(path: Path) -> bool:
    f = path / "leaderboard.csv"
    return f.is_file() and f.read_text().split("\n", 1)[0].startswith("model,model_spec")


def _names(dirs: list[Path]) -> list[str]:
    """Folder names, with the parent prepended where two folders share a name."""
    names = [d.name for d in dirs]
    return [f"{d.parent.name}/{d.name}" if names.count(d.name) > 1 else d.name for d in dirs]


def _ci_cell(v, ci) -> tuple[str, float | None]:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a", None
    lo, hi = (list(ci) + [None, None])[:2] if ci else (None, None)
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        return f"{v:.3f} [{lo:.3f}, {hi:.3f}]", float(v)
    return f"{v:.3f}", float(v)


def leaderboard_html(results: dict[str, dict]) -> str:
    """The sortable leaderboard (headline test metrics of ``bench.report.HEADLINE``) with CIs."""
    from seisforge.bench.report import HEADLINE

    rows = []
    for name, res in results.items():
        m, ci = res.get("metrics", {}), res.get("ci95", {})
        rows.append([name, res.get("model") or "?"] + [_ci_cell(m.get(k), ci.get(k)) for k, _ in HEADLINE])
    n = next(iter(results.values())).get("bootstrap", {}).get("n", "?")
    return (page.table(["model", "spec"] + [label for _, label in HEADLINE], rows, table_id="leaderboard")
            + page.note(CI_CAPTION.format(n=n) + " Click a column header to sort."))


def comparisons_html(dirs: dict[str, Path], results: dict[str, dict], n_boot: int | None = None) -> str:
    """Paired differences of every model against the first, with event-bootstrap CIs.

    ``n_boot`` resamples (default: as many as the first model's ``metrics.json`` used).
    """
    from seisforge.bench.picking.score import paired_compare
    from seisforge.bench.report import HEADLINE
    from seisforge.errors import DataError

    names = list(dirs)
    base = names[0]
    boot = results[base].get("bootstrap", {})
    n_boot = int(n_boot or boot.get("n", 1000))
    cols, diffs = [], {}
    for other in names[1:]:
        try:
            diffs[other] = paired_compare(dirs[base], dirs[other], n_boot=n_boot, seed=int(boot.get("seed", 0)))
            cols.append(other)
        except (DataError, FileNotFoundError) as err:
            diffs[other] = {"error": str(err)}
    rows = [[label] + [_ci_cell(diffs[o]["delta"].get(k), diffs[o]["ci95"].get(k)) for o in cols]
            for k, label in HEADLINE if any(k in diffs[o]["delta"] for o in cols)]
    errors = [f"{o}: {esc(d['error'])}" for o, d in diffs.items() if "error" in d]
    html = page.table(["metric"] + [f"{o} − {base}" for o in cols], rows, table_id="paired") if cols else ""
    return html + page.note(
        f"Paired differences (other − {esc(base)}) on the same test windows, with 95% CIs from {n_boot} "
        "event-level resamples; the same resamples are applied to both models, so the CI of a difference "
        "accounts for their correlation. A CI "
        "that excludes 0 is a difference the test set supports." + (" Not compared: " + "; ".join(errors)
                                                                    if errors else ""))


def _saved_compare(path: Path) -> str:
    data = json.loads((path / "compare.json").read_text())
    parts = []
    for d in data if isinstance(data, list) else [data]:
        if not isinstance(d, dict) or "delta" not in d:
            continue
        rows = [[k, _ci_cell(v, d.get("ci95", {}).get(k))] for k, v in d["delta"].items()]
        other, base = Path(str(d.get("other", "?"))).name, Path(str(d.get("base", "?"))).name
        parts.append(page.heading(f"Saved comparison {path.name}: {other} − {base}")
                     + page.table(["metric", "difference [95% CI]"], rows))
    return "".join(parts)


def bins_html(results: dict[str, dict]) -> str:
    """Per-bin test metrics, bins in numeric order (``data.bins``), as one sortable table."""
    from seisforge.bench.report import bin_order

    frames = {n: pd.DataFrame(r.get("bins", [])) for n, r in results.items()}
    rows = []
    for by in ("distance", "magnitude", "snr", "dataset"):
        order = bin_order(frames.values(), by)
        for name, f in frames.items():
            if f.empty:
                continue
            for _, r in f[f["by"] == by].iterrows():
                rank = order.index(r["bin"]) if r["bin"] in order else len(order)
                rows.append([name, by, (r["bin"], rank), r["phase"], int(r["n"]), int(r["n_events"]),
                             _ci_cell(r.get("recall"), (r.get("recall_ci_low"), r.get("recall_ci_high"))),
                             _ci_cell(r.get("mae_s"), (r.get("mae_s_ci_low"), r.get("mae_s_ci_high")))])
    rows.sort(key=lambda r: (r[1], r[2][1], r[0], r[3]))
    return page.table(["model", "by", "bin", "phase", "windows", "events", "recall [95% CI]",
                       "MAE s [95% CI]"], rows, table_id="bins")


def figures_html(dirs: dict[str, Path], results: dict[str, dict]) -> str:
    """``bench.report``'s recall-vs-threshold, residual, per-bin and reliability figures, embedded."""
    from seisforge.bench import report as R
    from seisforge.bench.picking.metrics import PICK_TOLERANCE_S

    n = next(iter(results.values())).get("bootstrap", {}).get("n", "?")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        return "".join([
            page.figure(R.figure_recall_vs_threshold(dirs, results, tmp),
                        f"Test recall (share of labelled windows with a pick above the threshold within "
                        f"±{PICK_TOLERANCE_S} s of the label) against the pick threshold; the dot marks the "
                        "threshold chosen on dev."),
            page.figure(R.figure_residuals(dirs, tmp),
                        "Residuals (predicted − labelled onset, s) of every test window, over their full "
                        "range (no clipping; log counts), so far-off picks stay visible."),
            page.figure(R.figure_bins(results, tmp),
                        "Per-bin test recall and MAE, bins in numeric order (unknown last). "
                        + CI_CAPTION.format(n=min(int(n), 200) if str(n).isdigit() else n)
                        + " Per-bin CIs use at most 200 resamples."),
            *([page.figure(R.figure_reliability(results, tmp),
                           "Reliability on test: mean predicted peak probability against the observed fraction of "
                           "correct picks (within the pick tolerance) per equal-mass bin, for P, S and detection; "
                           "the diagonal is perfect calibration and the legend gives the ECE. Noise windows count "
                           "as negatives." + _noise_source_note(results))]
              if any(r.get("calibration") for r in results.values()) else []),
        ])


def _noise_source_note(results: dict[str, dict]) -> str:
    """Where the test noise windows came from (``window_source`` of ``bench targets --noise-after-events``),
    when any model's targets recorded it; pick-benchmark-rule targets give an empty string."""
    parts = []
    for name, r in results.items():
        src = (r.get("calibration") or {}).get("noise_windows") or {}
        if any(k != "unrecorded" for k in src):
            parts.append(f"{esc(name)}: " + ", ".join(f"{esc(k)} {v}" for k, v in src.items()))
    if not parts:
        return ""
    return (" Test noise windows by source (post_event: cut after the last label plus a guard, a seisforge "
            "addition, not pick-benchmark noise): " + "; ".join(parts) + ".")


def leaderboard_dir_html(path: Path) -> str:
    """A ``bench leaderboard`` folder on its own: its table and figures."""
    from seisforge.bench.report import HEADLINE

    df = pd.read_csv(path / "leaderboard.csv")
    rows = [[r["model"], r.get("model_spec")] + [_ci_cell(r.get(k), (r.get(f"{k}_ci_low"), r.get(f"{k}_ci_high")))
                                                 for k, _ in HEADLINE] for _, r in df.iterrows()]
    parts = [page.heading(f"Leaderboard folder {path.name}"),
             page.table(["model", "spec"] + [label for _, label in HEADLINE], rows)]
    for png in sorted(path.glob("*.png")):
        parts.append(page.figure(png, f"{esc(png.name)} as written by <code>bench leaderboard</code>."))
    return "".join(parts)


@register
class PickingRenderer:
    kind = "picking"
    title = "Picking benchmark"
    order = 10

    def detect(self, path: Path) -> bool:
        return path.is_dir() and (is_pred_dir(path) or is_leaderboard_dir(path) or (path / "compare.json").is_file())

    def render(self, paths: list[Path], ctx: Context) -> Section:
        from seisforge.bench.report import load_metrics
        from seisforge.report.renderers.gallery import gallery_html

        sec = Section(self.kind, self.title)
        preds = [p for p in paths if is_pred_dir(p)]
        dirs = dict(zip(_names(preds), preds))
        results = {n: load_metrics(d) for n, d in dirs.items()}
        if results:
            sec.add(page.heading("Leaderboard (test split)") + leaderboard_html(results))
            if len(results) > 1:
                sec.add(page.heading("Paired comparisons")
                        + comparisons_html(dirs, results, ctx.options.get("compare_bootstrap")))
            sec.add(page.heading("Figures") + figures_html(dirs, results))
            sec.add(page.heading("Per-bin metrics") + bins_html(results))
            for name, d in dirs.items():
                sec.add(page.heading(f"Waveform gallery: {name}") + gallery_html(d, results[name], ctx))
        for p in paths:
            if is_leaderboard_dir(p) and p not in preds:
                sec.add(leaderboard_dir_html(p))
            if (p / "compare.json").is_file():
                sec.add(_saved_compare(p))
        return sec
