"""Sections for outputs of stages still being built: compression, catalog and label-efficiency.

Each activates when its result file exists and shows the file's numbers as a table (nested values as
JSON), plus any PNG figures beside it. A stage that grows richer output replaces its entry here with
its own renderer module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from seisforge.report import page
from seisforge.report.core import Context, Section, esc, register


def _flatten(d, prefix: str = "") -> dict:
    out = {}
    for k, v in (d.items() if isinstance(d, dict) else [("value", d)]):
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def file_html(path: Path) -> str:
    """A JSON or CSV result file as a table, and the figures next to it."""
    parts = [page.heading(str(path.parent.name) + "/" + path.name)]
    if path.suffix == ".json":
        parts.append(page.key_values(_flatten(json.loads(path.read_text()))))
    else:
        df = pd.read_csv(path)
        parts.append(page.table(list(df.columns), df.astype(object).where(df.notna(), None).values.tolist()))
    for png in sorted(path.parent.glob("*.png")):
        parts.append(page.figure(png, esc(png.name)))
    return "".join(parts)


class _ResultFile:
    """A renderer for folders holding one of ``files``."""

    files: tuple[str, ...] = ()

    def _file(self, path: Path) -> Path | None:
        return next((path / f for f in self.files if (path / f).is_file()), None)

    def detect(self, path: Path) -> bool:
        return path.is_dir() and self._file(path) is not None

    def render(self, paths: list[Path], ctx: Context) -> Section:
        sec = Section(self.kind, self.title)
        for p in paths:
            sec.add(file_html(self._file(p)))
        return sec


@register
class CompressionRenderer(_ResultFile):
    kind, title, order = "compression", "Compression", 60
    files = ("compression_report.json",)


@register
class CatalogRenderer(_ResultFile):
    kind, title, order = "catalog", "Catalog", 70
    files = ("catalog_metrics.json",)


@register
class LabelEfficiencyRenderer(_ResultFile):
    kind, title, order = "label_efficiency", "Label efficiency", 80
    files = ("label_efficiency.json", "label_efficiency.csv")
