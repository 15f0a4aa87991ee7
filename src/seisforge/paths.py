"""Path safety: paths read from manifests or configs may not escape their root."""

from __future__ import annotations

import os
from pathlib import Path

from seisforge.errors import DataError


def resolve_under(root: str | Path, relative: str | Path) -> Path:
    """Resolve ``relative`` against ``root`` and refuse results outside ``root``.

    Raises
    ------
    DataError
        If the path is absolute outside root, or climbs out with ``..`` or a symlink.
    """
    root_p = Path(root).resolve()
    candidate = (root_p / relative).resolve()
    if candidate != root_p and root_p not in candidate.parents:
        raise DataError(f"path {str(relative)!r} escapes its root {root_p}")
    return candidate


def shared_dir() -> Path | None:
    """The shared test-data folder: ``$SEISFORGE_SHARED`` or ``../shared`` when it exists."""
    env = os.environ.get("SEISFORGE_SHARED")
    if env:
        p = Path(env)
        return p if p.is_dir() else None
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared"
        if (parent / "pyproject.toml").exists() and cand.is_dir():
            return cand
    cand = Path.cwd().parent / "shared"
    return cand if cand.is_dir() else None
