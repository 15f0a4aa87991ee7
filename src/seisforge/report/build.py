"""Building a report: detect what each path is, render a section per kind, write ``index.html``."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from pathlib import Path
from typing import Any

from seisforge.errors import DataError
from seisforge.report.core import Context, Renderer, registered
from seisforge.report.page import assemble

log = logging.getLogger(__name__)

#: how deep a folder that is no known kind is searched for known kinds
SEARCH_DEPTH = 6  # deep enough for the official CTF layout: results/<dataset>/<model>/<batch_id>


def renderers() -> list[Renderer]:
    """The registered renderers, after importing every module of :mod:`seisforge.report.renderers`."""
    import seisforge.report.renderers as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    return registered()


def _kind_of(path: Path) -> Renderer | None:
    for r in renderers():
        try:
            if r.detect(path):
                return r
        except OSError as err:  # an unreadable folder is reported as unknown, not fatal
            log.warning("%s: %s", path, err)
    return None


def detect(paths: list[str | Path], depth: int = SEARCH_DEPTH) -> tuple[dict[str, list[Path]], list[Path]]:
    """Group ``paths`` by kind: ``({kind: [paths]}, unknown)``.

    A folder of no known kind is searched (breadth first, ``depth`` levels) for folders of known kinds,
    so ``seisforge report runs/demo`` finds the prediction folders, runs and leaderboards inside;
    a folder of a known kind is not searched further.
    """
    found: dict[str, list[Path]] = {}
    unknown: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise DataError(f"report input not found: {p}")
        hits = _search(p, depth)
        if not hits:
            unknown.append(p)
        for kind, q in hits:
            if q not in found.setdefault(kind, []):
                found[kind].append(q)
    return found, unknown


def _search(root: Path, depth: int) -> list[tuple[str, Path]]:
    r = _kind_of(root)
    if r is not None:
        return [(r.kind, root)]
    if depth <= 0 or not root.is_dir():
        return []
    hits = []
    for child in sorted(c for c in root.iterdir() if c.is_dir() and not c.name.startswith(".")):
        hits += _search(child, depth - 1)
    return hits


def build_report(paths: list[str | Path], out: str | Path, title: str = "seisforge report",
                 options: dict[str, Any] | None = None, seed: int = 0) -> Path:
    """Detect the kinds of ``paths``, render one section per kind and write ``out/index.html``."""
    from seisforge.runinfo import RunReport

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    found, unknown = detect(paths)
    if not found:
        raise DataError("none of the report inputs holds seisforge outputs of a known kind: "
                        + ", ".join(map(str, unknown)) + f" (known: {', '.join(r.kind for r in renderers())})")
    ctx = Context(out=out, options=dict(options or {}), seed=seed)
    report = RunReport("report")
    sections = []
    for r in renderers():
        if r.kind not in found:
            continue
        log.info("report: %s section from %d path(s)", r.kind, len(found[r.kind]))
        section = r.render(found[r.kind], ctx)
        section.sources = [str(p) for p in found[r.kind]]
        sections.append(section)
        report.processed += len(found[r.kind])
    for p in unknown:
        report.skip("unknown_kind", str(p))
    index = out / "index.html"
    index.write_text(assemble(title, sections, unknown))
    report.notes["sections"] = [s.kind for s in sections]
    report.write(out)
    return index
