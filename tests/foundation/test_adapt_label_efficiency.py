"""The label-efficiency grid's configuration checks and cell layout (the grid itself is run in docs/experiments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seisforge.bench.label_efficiency import LabelEfficiencyConfig, _arms, cell_dir
from seisforge.errors import ConfigError


def _cfg(**kw) -> LabelEfficiencyConfig:
    arms = [{"name": "scratch", "base": "scratch"}, {"name": "ssl_lora", "base": "pretrain:x", "method": "lora"}]
    return LabelEfficiencyConfig(**{"data": "d", "scratch_like": "x", "arms": arms, **kw})


def test_arms_need_one_scratch_and_unique_names():
    assert [a.name for a in _arms(_cfg())] == ["scratch", "ssl_lora"]
    with pytest.raises(ConfigError, match="exactly one arm with base: scratch"):
        _arms(_cfg(arms=[{"name": "a", "base": "pretrain:x"}]))
    with pytest.raises(ConfigError, match="unique"):
        _arms(_cfg(arms=[{"name": "scratch", "base": "scratch"}, {"name": "scratch", "base": "stalta"}]))
    with pytest.raises(ConfigError, match="unknown arms"):
        _arms(_cfg(only_arms=["nope"]))
    with pytest.raises(ConfigError, match="arms:"):
        _arms(_cfg(arms=[{"name": "scratch", "base": "scratch", "lr": 1}]))


def test_cell_layout():
    assert cell_dir(Path("o"), "ssl_lora", 0.1, 2) == Path("o/cells/ssl_lora/f0.1/s2")
