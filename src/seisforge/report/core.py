"""Report core: sections, the context renderers get, and the renderer registry.

A renderer is one small module in :mod:`seisforge.report.renderers` that defines a class with

- ``kind`` (a short id), ``title`` (the section heading) and ``order`` (position on the page);
- ``detect(path) -> bool``: does this folder (or file) hold this kind of output?
- ``render(paths, ctx) -> Section``: one section for all the paths of this kind;

and decorates it with :func:`register`. :mod:`seisforge.report.build` imports every module of the
``renderers`` package, so a new kind is one new module there; nothing else changes.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass
class Section:
    """One section of the page: a title and HTML body parts (already escaped)."""

    kind: str
    title: str
    parts: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def add(self, part: str) -> None:
        self.parts.append(part)


@dataclass
class Context:
    """Options every renderer may read (``station``/``hour`` are for the continuous-pick strip)."""

    out: Path
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0


class Renderer(Protocol):
    kind: str
    title: str
    order: int

    def detect(self, path: Path) -> bool: ...

    def render(self, paths: list[Path], ctx: Context) -> Section: ...


_REGISTRY: list[Renderer] = []


def register(cls):
    """Class decorator: add an instance of renderer ``cls`` to the registry (sorted by ``order``)."""
    if any(r.kind == cls.kind for r in _REGISTRY):
        raise ValueError(f"renderer kind {cls.kind!r} registered twice")
    _REGISTRY.append(cls())
    _REGISTRY.sort(key=lambda r: r.order)
    return cls


def registered() -> list[Renderer]:
    """The renderers registered so far, in page order."""
    return list(_REGISTRY)


def esc(text: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(text))
