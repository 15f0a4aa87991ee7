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


def test_phasenet_base_rebuilds_the_same_decoder_and_scratch_bases_differ_by_seed(tmp_path):
    """A phasenet pretrain run stores only the encoder: its decoder must come out the same on every rebuild
    (the adapter's base hash covers it, and ``run:DIR`` rebuilds it), without consuming the caller's RNG;
    the grid's scratch bases differ per seed, encoder and decoder alike."""
    import torch

    from seisforge.bench.label_efficiency import _scratch_base
    from seisforge.models.encoders.pretrained import build_encoder, load_pretrained_encoder, save_encoder

    args = {"base": "PhaseNetLight", "model_args": {}}
    encoder, _ = build_encoder("phasenet", args, init_seed=3)
    meta = {"kind": "phasenet", "args": args, "in_channels": 3, "component_order": "ZNE",
            "sampling_rate": 100.0, "window_samples": 3001}
    (tmp_path / "like").mkdir()
    save_encoder(tmp_path / "like", encoder, meta)
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    one = load_pretrained_encoder(tmp_path / "like")[1]["seisbench_model"].state_dict()
    assert torch.rand(1) == before  # the caller's RNG is untouched
    two = load_pretrained_encoder(tmp_path / "like")[1]["seisbench_model"].state_dict()
    assert all(torch.equal(one[k], two[k]) for k in one)
    s0 = load_pretrained_encoder(_scratch_base(str(tmp_path / "like"), tmp_path / "s0", 0))[1]["seisbench_model"]
    s1 = load_pretrained_encoder(_scratch_base(str(tmp_path / "like"), tmp_path / "s1", 1))[1]["seisbench_model"]
    assert not torch.equal(s0.conv1.conv.weight, s1.conv1.conv.weight)  # encoder
    assert not torch.equal(s0.up1.weight, s1.up1.weight)  # decoder
