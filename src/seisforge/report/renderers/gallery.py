"""Waveform gallery of a prediction folder: the windows where the picker was wrong, and a random sample.

Selection uses the prediction CSVs and the dev-chosen pick thresholds of ``metrics.json``:

- **worst misses**: labelled test windows whose peak probability of the labelled phase stays lowest
  below the threshold (no pick);
- **false picks on noise**: test noise windows with the highest detection score;
- **largest residuals**: picked windows (peak probability above threshold) furthest from the label;
- **random sample**: a seeded draw of labelled test windows.

The windows are rebuilt with ``bench.picking.predict.window_inputs`` (the model's exact inputs) from
the dataset recorded by ``bench predict`` and the model is re-run on those windows only
(``models.registry.load_model``), so the P/S probability curves are the ones the scores came from.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.bench.picking.score import read_predictions
from seisforge.report import page
from seisforge.report.core import Context, esc

log = logging.getLogger(__name__)

GALLERY_N = 3  # windows per category


def select_windows(pred_dir: Path, result: dict, n: int, seed: int) -> dict[str, pd.DataFrame]:
    """The rows of each gallery category (see the module docstring)."""
    from seisforge.bench.picking import metrics as M

    out: dict[str, pd.DataFrame] = {}
    t23, t1 = read_predictions(pred_dir, "test_task23"), read_predictions(pred_dir, "test_task1")
    thr = result.get("thresholds", {})
    if t23 is not None and not t23.empty:
        t23 = t23.copy()
        t23["_res"], t23["_prob"] = np.nan, np.nan
        for ph in M.PHASES:
            sel = (t23["phase_label"] == ph).to_numpy()
            t23.loc[sel, "_res"] = M.pick_residuals(t23[sel], ph)
            t23.loc[sel, "_prob"] = M.phase_probabilities(t23[sel], ph)
            t23.loc[sel, "_thr"] = thr.get(f"{ph}_pick_threshold")
        t23["_thr"] = pd.to_numeric(t23["_thr"], errors="coerce").fillna(0.5)
        picked = t23["_prob"] >= t23["_thr"]
        out["worst misses"] = t23[~picked].sort_values("_prob").head(n)
        out["largest residuals"] = t23[picked].reindex(
            t23[picked]["_res"].abs().sort_values(ascending=False).index).head(n)
        rng = np.random.default_rng(seed)
        out["random sample"] = t23.iloc[np.sort(rng.choice(len(t23), size=min(n, len(t23)), replace=False))]
    if t1 is not None and "trace_type" in t1:
        noise = t1[t1["trace_type"] == "noise"]
        out["false picks on noise"] = noise.sort_values("score_detection", ascending=False).head(n)
    return {k: v for k, v in out.items() if len(v)}


def _existing(text: str | None, pred_dir: Path) -> str | None:
    """A recorded (possibly relative) path as it exists now: as given, or relative to the folder's parents."""
    if not text:
        return None
    p = Path(text)
    if p.is_absolute() or p.exists():
        return str(p)
    for base in pred_dir.resolve().parents:
        if (base / p).exists():
            return str(base / p)
    return text  # a dataset name (SeisBench) or a path that is gone; loading reports it


def _model_spec(spec: str, pred_dir: Path) -> str:
    if spec.startswith("run:"):
        return "run:" + (_existing(spec[4:], pred_dir) or spec[4:])
    return spec


def _load(pred_dir: Path, notes: dict):
    from seisforge.models.registry import load_model
    from seisforge.models.window_picker import as_window_picker

    loaded = load_model(_model_spec(notes["model"], pred_dir), weights=_existing(notes.get("weights"), pred_dir),
                        pretrained=notes.get("pretrained"))
    return as_window_picker(loaded)


def _panel(axes, x, probs, row, labels, picker, onsets) -> None:
    """One window: 3 components (top) and P/S probabilities (bottom), with onsets and predictions."""
    sr = float(row["sampling_rate"])
    t = np.arange(x.shape[-1]) / sr
    top, bottom = axes
    for c in range(x.shape[0]):  # each component scaled to its own peak for display
        top.plot(t, x[c] / (2.2 * (np.max(np.abs(x[c])) or 1.0)) - 1.1 * c, lw=0.6, color="0.2")
    top.set_yticks([-1.1 * c for c in range(x.shape[0])], list(picker.component_order))
    p0 = float(row["start_sample"]) - float(row["_border"])
    for ph, color, ls in (("P", "#0072B2", "-"), ("S", "#D55E00", "-")):
        for onset in onsets.get(ph, []):
            if 0 <= onset - p0 < x.shape[-1]:  # labels of the trace outside this window are not drawn
                top.axvline((onset - p0) / sr, color=color, ls=ls, lw=1.2, label=f"labelled {ph}")
        pred = row.get(f"{ph.lower()}_sample_pred")
        if pred is not None and np.isfinite(pred):
            for ax in axes:
                ax.axvline((float(pred) - p0) / sr, color=color, ls="--", lw=1.0, label=f"predicted {ph}")
    lo, hi = float(row["_border"]) / sr, (float(row["end_sample"]) - p0) / sr
    for ax in axes:
        ax.axvspan(lo, hi, color="#F0E442", alpha=0.15, lw=0)
    if probs is not None:
        for ph, color in (("P", "#0072B2"), ("S", "#D55E00")):
            bottom.plot(t, probs[labels.index(ph)], color=color, lw=1.0, label=f"{ph} probability")
        bottom.set_ylim(-0.05, 1.05)
    else:
        bottom.text(0.5, 0.5, "no probability curves\n(classical picker: scores only)", ha="center",
                    va="center", transform=bottom.transAxes, fontsize=8)
    bottom.set_xlim(0, x.shape[-1] / sr)
    bottom.set_xlabel("time in model window (s)")
    bottom.set_ylabel("probability")
    top.set_title(_title(row), fontsize=7)


def _title(row) -> str:
    what = row.get("phase_label") if isinstance(row.get("phase_label"), str) else row.get("trace_type", "")
    bits = [str(row.get("trace_name", ""))[:28], f"{what}"]
    if np.isfinite(row.get("_res", np.nan)):
        bits.append(f"res {row['_res']:+.2f} s")
    if np.isfinite(row.get("_prob", np.nan)):
        bits.append(f"peak {row['_prob']:.2f}")
    elif np.isfinite(row.get("score_detection", np.nan)):
        bits.append(f"det {row['score_detection']:.2f}")
    return " | ".join(bits)


def _onsets(row, t23: pd.DataFrame | None) -> dict[str, list[float]]:
    """Labelled onsets (trace samples) of the window's trace: every task-2/3 label of that trace."""
    if t23 is None or "trace_key" not in t23 or "trace_key" not in row:
        return {}
    same = t23[t23["trace_key"] == row["trace_key"]]
    return {ph: sorted(set(same.loc[same["phase_label"] == ph, "phase_onset"].astype(float))) for ph in ("P", "S")}


def category_figure(name: str, rows: pd.DataFrame, x, probs, picker, t23):
    """One figure per category: a column per window."""
    from seisforge.bench.report import pyplot

    plt = pyplot()
    n = len(rows)
    fig, axes = plt.subplots(2, n, figsize=(3.6 * n, 4.2), squeeze=False, sharex="col",
                             gridspec_kw={"height_ratios": [2, 1]})
    labels = list(getattr(picker, "labels", "PSN"))
    for j, (_, row) in enumerate(rows.iterrows()):
        _panel(axes[:, j], x[j], None if probs is None else probs[j], row, labels, picker, _onsets(row, t23))
    handles, names = axes[0, 0].get_legend_handles_labels()
    h2, n2 = axes[1, 0].get_legend_handles_labels()
    uniq = dict(zip(names + n2, handles + h2))
    fig.legend(uniq.values(), uniq.keys(), loc="lower center", ncol=6, fontsize=7, frameon=False)
    fig.suptitle(name, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def gallery_html(pred_dir: Path, result: dict, ctx: Context) -> str:
    """The gallery section of one prediction folder (a note instead when it cannot be rebuilt)."""
    import json

    from seisforge.bench.picking.predict import window_inputs

    rep = pred_dir / "run_report.json"
    notes = json.loads(rep.read_text()).get("notes", {}) if rep.is_file() else {}
    if not notes.get("dataset") or not notes.get("model"):
        return page.note("No gallery: the folder's run_report.json records no dataset or model spec.")
    cats = select_windows(pred_dir, result, int(ctx.options.get("gallery_n", GALLERY_N)), ctx.seed)
    try:
        picker = _load(pred_dir, notes)
        dataset = _existing(notes["dataset"], pred_dir)
        parts = []
        t23 = read_predictions(pred_dir, "test_task23")
        # one pass over the dataset and one model call for all categories
        x, borders = window_inputs(dataset, pd.concat(cats.values(), ignore_index=True), picker)
        probs = picker.probabilities(x) if hasattr(picker, "probabilities") else None
        start = 0
        for name, rows in cats.items():
            sl = slice(start, start + len(rows))
            start += len(rows)
            rows = rows.assign(_border=borders[sl, 0])
            fig = category_figure(name, rows, x[sl], None if probs is None else probs[sl], picker, t23)
            parts.append(page.figure(fig, _caption(name)))
    except Exception as err:  # noqa: BLE001 - a gone dataset or model must not break the report
        log.warning("gallery of %s: %s", pred_dir, err)
        return page.note(f"No gallery: cannot rebuild the windows ({esc(type(err).__name__)}: {esc(err)}).")
    return "<div class=gallery>" + "".join(parts) + "</div>"


def _caption(name: str) -> str:
    return (f"<b>{esc(name)}</b>. Top: the normalised model input (components labelled), labelled onsets "
            "(solid), predicted onsets (dashed), evaluation window (shaded). Bottom: the model's P and S "
            "probabilities, recomputed on these windows only.")
