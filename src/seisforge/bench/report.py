"""Leaderboards and figures for picking benchmark results."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.bench.picking import metrics as M
from seisforge.data.bins import BENCH_BINS, ordered
from seisforge.errors import DataError

log = logging.getLogger(__name__)

HEADLINE = [
    ("test_det_auc", "det AUC"),
    ("test_det_f1", "det F1"),
    ("test_phase_mcc", "phase MCC"),
    ("test_P_recall", "P recall"),
    ("test_P_cond_mae_s", "P cond MAE s"),
    ("test_P_mae_s", "P MAE s"),
    ("test_P_std_s", "P RMS s"),
    ("test_P_cond_outlier_frac_1s", "P outl>1s"),
    ("test_S_recall", "S recall"),
    ("test_S_cond_mae_s", "S cond MAE s"),
    ("test_S_mae_s", "S MAE s"),
    ("test_S_std_s", "S RMS s"),
    ("test_S_cond_outlier_frac_1s", "S outl>1s"),
]


def load_metrics(pred_dir: str | Path) -> dict:
    """Read ``metrics.json``; computes it (1000 event-level resamples) when absent."""
    path = Path(pred_dir) / "metrics.json"
    if not path.is_file():
        if not Path(pred_dir).is_dir():
            raise DataError(f"prediction folder not found: {pred_dir}")
        from seisforge.bench.picking.score import score

        log.info("%s has no metrics.json; scoring it now", pred_dir)
        return score(pred_dir)
    from seisforge.bench.picking.score import read_metrics

    return read_metrics(pred_dir)


def _fmt(v, ci) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    if ci and ci[0] is not None and np.isfinite(ci[0]):
        return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
    return f"{v:.3f}"


def leaderboard_table(results: dict[str, dict]) -> tuple[pd.DataFrame, str]:
    """CSV-ready frame (value, ci_low, ci_high per metric) and a Markdown table."""
    rows, md_rows = [], []
    for name, res in results.items():
        m, ci = res["metrics"], res.get("ci95", {})
        row = {"model": name, "model_spec": res.get("model"), "domain": res.get("domain", "unknown")}
        md = [name]
        for key, _ in HEADLINE:
            v = m.get(key)
            lo, hi = (ci.get(key) or [None, None])
            row[key], row[f"{key}_ci_low"], row[f"{key}_ci_high"] = v, lo, hi
            md.append(_fmt(v, ci.get(key)))
        rows.append(row)
        md_rows.append(md)
    header = ["model"] + [label for _, label in HEADLINE]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in md_rows]
    return pd.DataFrame(rows), "\n".join(lines) + "\n"


#: Okabe & Ito (2008) colour-blind-safe palette, the colour cycle of every benchmark and report figure
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend with the :data:`OKABE_ITO` colour cycle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    plt.rcParams["axes.prop_cycle"] = cycler(color=OKABE_ITO)
    return plt


def _finish(fig, axes_row, ylabel: str, path: Path) -> Path:
    axes_row[0].set_ylabel(ylabel)
    axes_row[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    fig.clf()
    pyplot().close(fig)
    return path


def _test_rows(pred_dir: Path) -> pd.DataFrame | None:
    from seisforge.bench.picking.score import read_predictions

    return read_predictions(pred_dir, "test_task23")


def figure_recall_vs_threshold(dirs: dict[str, Path], results: dict[str, dict], out: Path) -> Path:
    """Test recall (correct picks within the tolerance) against the pick threshold, per phase."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    thr_grid = np.linspace(0, 1, 101)
    for name, d in dirs.items():
        df = _test_rows(d)
        if df is None:
            continue
        for ax, ph in zip(axes, M.PHASES):
            sub = df[df["phase_label"] == ph]
            if sub.empty:
                continue
            res, prob = M.pick_residuals(sub, ph), M.phase_probabilities(sub, ph)
            rec = [M.pick_outcome(prob, res, t)[1].mean() for t in thr_grid]
            (line,) = ax.plot(thr_grid, rec, label=name)
            thr = results[name]["thresholds"].get(f"{ph}_pick_threshold")
            if thr is not None and np.isfinite(thr):
                ax.plot([thr], [M.pick_outcome(prob, res, thr)[1].mean()], "o", color=line.get_color())
    for ax, ph in zip(axes, M.PHASES):
        ax.set_title(f"{ph}: recall (|residual| <= {M.PICK_TOLERANCE_S} s) vs threshold")
        ax.set_xlabel("pick threshold on peak probability (o: chosen on dev)")
        ax.grid(alpha=0.3)
    return _finish(fig, axes, "test recall (fraction)", out / "recall_vs_threshold.png")


def figure_residuals(dirs: dict[str, Path], out: Path) -> Path:
    """Residual histograms over the full window (no clipping), per phase, log counts."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    frames = {n: _test_rows(d) for n, d in dirs.items()}
    for ax, ph in zip(axes, M.PHASES):
        residuals = {name: M.pick_residuals(df[df["phase_label"] == ph], ph) for name, df in frames.items() if df is not None}
        residuals = {name: r for name, r in residuals.items() if len(r)}
        if not residuals:
            continue
        lim = max(float(np.max(np.abs(np.concatenate(list(residuals.values()))))), 0.5)
        bins = np.linspace(-lim, lim, 81)
        for name, r in residuals.items():
            ax.hist(r, bins=bins, histtype="step", label=f"{name} (n={len(r)})")
        ax.set_yscale("log")
        ax.set_title(f"{ph} residual, full window range")
        ax.set_xlabel("predicted - labelled onset (s)")
        ax.grid(alpha=0.3)
    return _finish(fig, axes, "windows (count, log scale)", out / "residual_histograms.png")


def bin_order(frames, by: str) -> list[str]:
    """The bins of grouping ``by`` present in the per-bin ``frames``, in numeric order (``unknown``
    last) for distance, magnitude and SNR, in text order for datasets."""
    present = {b for f in frames if not f.empty for b in f.loc[f["by"] == by, "bin"]}
    return ordered(present, BENCH_BINS.get(by))


BIN_AXIS_LABELS = {"distance": "epicentral distance bin (km)", "magnitude": "magnitude bin",
                   "snr": "SNR bin (dB)", "dataset": "dataset"}


def figure_bins(results: dict[str, dict], out: Path) -> Path:
    """Per-bin recall and MAE with 95% CI bars (distance, magnitude, SNR, dataset)."""
    plt = pyplot()

    groups = ["distance", "magnitude", "snr", "dataset"]
    fig, axes = plt.subplots(2, len(groups), figsize=(4 * len(groups), 7), squeeze=False)
    names = list(results)
    frames = {n: pd.DataFrame(results[n].get("bins", [])) for n in names}
    for col, by in enumerate(groups):
        labels = bin_order(frames.values(), by)
        pos = {lab: i for i, lab in enumerate(labels)}
        width = 0.8 / max(2 * len(names), 1)
        for row, metric in enumerate(["recall", "mae_s"]):
            ax = axes[row][col]
            for k, name in enumerate(names):
                b = frames[name]
                if b.empty or metric not in b:
                    continue
                b = b[b["by"] == by]
                for j, (ph, marker) in enumerate((("P", "o"), ("S", "s"))):
                    s = b[b["phase"] == ph]
                    if s.empty:
                        continue
                    x = np.array([pos[v] for v in s["bin"]]) - 0.4 + width * (2 * k + j + 0.5)
                    y = s[metric].to_numpy(dtype=float)
                    lo = y - s[f"{metric}_ci_low"].to_numpy(dtype=float)
                    hi = s[f"{metric}_ci_high"].to_numpy(dtype=float) - y
                    ax.errorbar(x, y, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], fmt=marker, capsize=3,
                                label=f"{name} {ph}", color=f"C{k}", alpha=1.0 if ph == "P" else 0.6)
            ax.set_xticks(np.arange(len(labels)))
            ax.set_xticklabels(labels, rotation=30, fontsize=8)
            ax.set_xlim(-0.5, max(len(labels), 1) - 0.5)
            ax.set_title(f"{metric} by {by}")
            ax.set_xlabel(BIN_AXIS_LABELS.get(by, by))
            ax.set_ylabel("test recall (fraction)" if metric == "recall" else "test MAE (s)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path = out / "per_bin_metrics.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figure_reliability(results: dict[str, dict], out: Path) -> Path:
    """Reliability diagrams (test): mean predicted probability vs observed fraction correct per equal-mass
    bin, for P, S and detection, one line per model; the ECE in the legend."""
    plt = pyplot()
    targets = (("P", "P pick"), ("S", "S pick"), ("det", "detection"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    n_bins = None
    for k, (name, r) in enumerate(results.items()):
        cal = r.get("calibration") or {}
        n_bins = cal.get("n_bins", n_bins)
        for ax, (key, _) in zip(axes, targets):
            pts = cal.get("reliability", {}).get(key) or []
            if not pts:
                continue
            ece = r["metrics"].get(f"test_{key}_ece")
            ax.plot([p["mean_prob"] for p in pts], [p["frac_correct"] for p in pts], "o-", color=f"C{k}",
                    label=f"{name} (ECE {ece:.3f})" if ece is not None else name)
    for ax, (_, title) in zip(axes, targets):
        ax.plot([0, 1], [0, 1], ":", color="0.5", label="perfectly calibrated")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{title}: {n_bins} equal-mass bins")
        ax.set_xlabel("mean predicted peak probability (dimensionless)")
        ax.grid(alpha=0.3)
    return _finish(fig, axes, "observed fraction correct", out / "reliability.png")


def leaderboard(pred_dirs: list[str | Path], out: str | Path, names: list[str] | None = None) -> list[Path]:
    """Write ``leaderboard.md``, ``leaderboard.csv`` and PNG figures to ``out``; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dirs = [Path(d) for d in pred_dirs]
    if names is not None and len(names) != len(dirs):
        raise DataError(f"--names gives {len(names)} names for {len(dirs)} prediction folders")
    labels = names or [d.name for d in dirs]
    if len(set(labels)) != len(labels):
        raise DataError(f"duplicate model names {labels}; pass --names")
    by_name = dict(zip(labels, dirs))
    results = {n: load_metrics(d) for n, d in by_name.items()}
    frame, md = leaderboard_table(results)
    frame.to_csv(out / "leaderboard.csv", index=False)
    notes = []
    for n, r in results.items():
        for k, why in r.get("reasons", {}).items():
            notes.append(f"- {n}: `{k}`: {why}")
    text = ("# Picking leaderboard\n\nTest split; thresholds chosen on dev; 95% CIs from an event-level "
            "bootstrap.\n\n" + md + ("\n## Notes\n\n" + "\n".join(notes) + "\n" if notes else ""))
    (out / "leaderboard.md").write_text(text)
    paths = [out / "leaderboard.md", out / "leaderboard.csv",
             figure_recall_vs_threshold(by_name, results, out), figure_residuals(by_name, out),
             figure_bins(results, out), figure_reliability(results, out)]
    return paths
