"""Fixtures of the continuous-picking tests: the PhaseNetLight ETHZ weights from ``shared``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def weights(shared: Path) -> str:
    """Prefix of the shared PhaseNetLight ETHZ weight pair (skips when absent)."""
    prefix = shared / "models" / "phasenetlight_ethz" / "ethz"
    if not prefix.with_name("ethz.json.v2").is_file():
        pytest.skip(f"PhaseNetLight weights not found under {prefix.parent}")
    return str(prefix)


@pytest.fixture(scope="session")
def model(weights: str):
    """The loaded PhaseNetLight model (shared by the tests of a session)."""
    from seisforge.models.registry import load_model

    return load_model("seisbench:PhaseNetLight", weights=weights)
