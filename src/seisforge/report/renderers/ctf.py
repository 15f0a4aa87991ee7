"""CTF results (``ctf run`` folders, or folders of them): E1-E12 heatmap, tables, forecast-vs-truth panels.

Scores and figures come from :mod:`seisforge.wavefield.ctf_leaderboard` (the leaderboard's own code).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from seisforge.report import page
from seisforge.report.core import Context, Section, register

PANEL_PAIRS = (1, 2)  # forecast-vs-truth panels for these pairs of each run
PANEL_RUNS = 3  # ... of the first runs


@register
class CtfRenderer:
    kind = "ctf"
    title = "Wavefield CTF"
    order = 50

    def detect(self, path: Path) -> bool:
        return path.is_dir() and (path / "batch_results.yaml").is_file()

    def render(self, paths: list[Path], ctx: Context) -> Section:
        from seisforge.wavefield.ctf_leaderboard import E_COLS, forecast_panels, heatmap, load_run

        sec = Section(self.kind, self.title)
        runs = sorted((load_run(p.resolve()) for p in paths), key=lambda r: (r["dataset"], -r["avg"]))
        rows = [[r["dataset"], r["label"], r["split"]] + [r["E"][c] for c in E_COLS] + [r["avg"], "; ".join(r["failures"])]
                for r in runs]
        sec.add(page.table(["dataset", "model", "split", *E_COLS, "AvgScore", "failures"], rows, table_id="ctf"))
        sec.add(page.note("Scores are 100·(1 − E) (higher is better); AvgScore clips each to [−100, 100] and counts a "
                          "missing or failed E as −100. Click a header to sort."))
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            sec.add(page.figure(heatmap(runs, tmp / "heatmap.png"),
                                "E1–E12 and AvgScore per dataset/model (colour-blind-safe diverging scale, ±100)."))
            for i, r in enumerate(runs[:PANEL_RUNS]):
                for pair in PANEL_PAIRS:
                    p = forecast_panels(r, tmp / f"panels_{i}_{pair}.png", pair_id=pair)
                    if p is not None:
                        sec.add(page.figure(p, f"{r['dataset']} / {r['label']}, pair {pair}: truth, forecast and "
                                               "forecast − truth (time step down, channel across; same colour scale)."))
        return sec
