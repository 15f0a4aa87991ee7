"""Fixtures for the CTF tests: tiny simulated datasets, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from seisforge.wavefield.simulate import simulate


@pytest.fixture(scope="session")
def tiny_datasets(tmp_path_factory) -> dict[str, Path]:
    """One ``tiny`` dataset per simulator (seed 0)."""
    root = tmp_path_factory.mktemp("ctf_tiny")
    out = {}
    for kind in ("global", "das", "crustal"):
        simulate(kind, root / kind, size="tiny", seed=0)
        out[kind] = root / kind
    return out
