"""Shared fixtures. Tests that need ``../shared`` skip with a reason when it is absent."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from seisforge.paths import shared_dir

os.environ.setdefault("MPLBACKEND", "Agg")
# the pick engine's on-disk cache (seisforge.deploy.runtimes.cache): one fresh folder per test session
os.environ.setdefault("SEISFORGE_CACHE", tempfile.mkdtemp(prefix="seisforge_test_cache_"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data folder (``$SEISFORGE_SHARED`` or ``../shared``); skips when absent."""
    root = shared_dir()
    if root is None:
        pytest.skip("shared test data not found: set SEISFORGE_SHARED or place it at ../shared")
    return root
