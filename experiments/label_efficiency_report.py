"""Arm-against-arm comparisons and per-metric figures of a finished (or partly finished) label-efficiency grid.

``seisforge bench label-efficiency`` compares every arm with ``scratch``; the study's questions 2 and 3 also
need LoRA (and the other cheap methods) against ``full`` on the same base, and the MAE encoder against the
contrastive one. This script reuses the grid's own pieces (:func:`summarise`, :func:`plot`, the seed-averaged
paired event bootstrap :func:`paired_compare_seeds`) on the cells that finished, and writes
``DIR/comparisons.md``, the grid's tables (``label_efficiency.csv``/``.md``) and ``DIR/figures/<metric>_vs_fraction.png`` / ``<metric>_vs_params.png``.

Usage::

    python experiments/label_efficiency_report.py configs/label_efficiency_synthetic.yaml runs/le/grid_synth \
        --pairs ethz_full:ethz_lora ssl_full:ssl_lora ssl_full:sslc_full
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import yaml

from seisforge.bench.label_efficiency import (
    METRICS,
    LabelEfficiencyConfig,
    _arms,
    cell_dir,
    plot,
    summarise,
    write_tables,
)
from seisforge.bench.picking.score import paired_compare_seeds
from seisforge.config import from_dict


def compare(cfg: LabelEfficiencyConfig, out: Path, base: str, other: str) -> list[str]:
    """Markdown rows of ``other - base`` per fraction (seed pairs where both cells finished)."""
    rows = []
    for fraction in cfg.fractions:
        pairs = [(cell_dir(out, base, fraction, s) / "pred", cell_dir(out, other, fraction, s) / "pred")
                 for s in cfg.seeds]
        pairs = [(b, o) for b, o in pairs if (b / "metrics.json").is_file() and (o / "metrics.json").is_file()]
        if not pairs:
            continue
        cmp = paired_compare_seeds([b for b, _ in pairs], [o for _, o in pairs], cfg.n_boot, seed=0)
        cells = []
        for k in METRICS:
            means = [np.mean([json.loads((d / "metrics.json").read_text())["metrics"][k] for d in col])
                     for col in zip(*pairs)]
            lo, hi = cmp["ci95"].get(k, [np.nan, np.nan])
            ratio = f" ({means[1] / means[0]:.0%})" if k.endswith("recall") and means[0] > 0 else ""
            cells.append(f"{means[1]:.3f} vs {means[0]:.3f}{ratio}: {cmp['delta'].get(k, np.nan):+.3f} "
                         f"[{lo:+.3f}, {hi:+.3f}]")
        rows.append(f"| {other} vs {base} | {fraction:g} | {len(pairs)} | " + " | ".join(cells) + " |")
    return rows


def _summary_part(config: str, out: str, names: list[str]):
    """Rows of ``summarise`` for the arms ``names`` (plus scratch, which every Δ needs; dropped by the caller)."""
    cfg = _load(config)
    arms = [a for a in _arms(cfg) if a.name in names or a.name == "scratch"]
    return summarise(cfg, arms, Path(out))


def _compare_part(config: str, out: str, pair: str) -> list[str]:
    base, other = pair.split(":")
    return compare(_load(config), Path(out), base, other)


def _load(config: str) -> LabelEfficiencyConfig:
    return from_dict(LabelEfficiencyConfig, yaml.safe_load(Path(config).read_text()), where=config)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("out")
    ap.add_argument("--pairs", nargs="*", default=[], help="BASE_ARM:OTHER_ARM (other - base)")
    ap.add_argument("--jobs", type=int, default=1, help="processes (the paired bootstraps dominate)")
    args = ap.parse_args()
    cfg, out = _load(args.config), Path(args.out)
    names = [a.name for a in _arms(cfg)]
    chunks = [names[i::args.jobs] for i in range(args.jobs)]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(args.jobs) as pool:
        parts = [pool.submit(_summary_part, args.config, args.out, c) for c in chunks]
        cmps = [pool.submit(_compare_part, args.config, args.out, p) for p in args.pairs]
        frames = [f.result() for f in parts]
        rows = [r for f in cmps for r in f.result()]
    import pandas as pd

    table = pd.concat([fr[fr["arm"] != "scratch"] if i else fr for i, fr in enumerate(frames) if not fr.empty])
    table = table.set_index("arm", drop=False).loc[[n for n in names if n in set(table["arm"])]].reset_index(drop=True)
    lines = ["| comparison | fraction | seed pairs | " + " | ".join(f"{k}: other vs base, Δ [95% CI]" for k in METRICS)
             + " |", "|" + "---|" * (3 + len(METRICS))] + rows
    (out / "comparisons.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    write_tables(table, out)  # label_efficiency.csv/.md over every finished cell
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    for metric in METRICS:  # the grid draws cfg.metric only; one pair of figures per metric here
        cfg.metric = metric
        plot(table, cfg, out)
        for name in ("metric_vs_fraction", "metric_vs_params"):
            if (out / f"{name}.png").is_file():
                shutil.move(out / f"{name}.png", figures / f"{metric}_{name.removeprefix('metric_')}.png")


if __name__ == "__main__":
    main()
