"""Fixtures for the CTF tests: tiny simulated datasets, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from seisforge.wavefield.simulate import simulate


@pytest.fixture(scope="session")
def tiny_datasets(tmp_path_factory) -> dict[str, Path]:
    """One ``tiny`` dataset per simulator (seed 0), in the official layout ``data/<name>/<name>.yaml``."""
    root = tmp_path_factory.mktemp("ctf_tiny")
    out = {}
    for kind in ("global", "das", "crustal"):
        out[kind] = root / "data" / f"{kind}_tiny"
        simulate(kind, out[kind], size="tiny", seed=0)
    return out
