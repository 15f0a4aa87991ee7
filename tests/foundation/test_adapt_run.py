"""``seisforge adapt``: frozen base, determinism, resume, merge, accounting and the run directory."""

from __future__ import annotations

import json

import pytest
import torch
from adapt_helpers import adapt_config, run_adapt
from safetensors.torch import load_file

from seisforge.cli import main
from seisforge.errors import ConfigError
from seisforge.models.adapt.base import build_base
from seisforge.models.adapt.io import base_hash, canonical_name
from seisforge.models.encoders.parts import model_parts
from seisforge.models.registry import load_model


def _adapter(run) -> dict[str, torch.Tensor]:
    return load_file(str(run / "best/adapter.safetensors"))


def test_frozen_base_unchanged_and_run_files(lora_run):
    info = json.loads((lora_run / "best/seisforge.json").read_text())
    fresh = build_base(info["base"])
    adapted = load_model(f"run:{lora_run}").model
    parts = model_parts(fresh)
    base_state = fresh.state_dict()
    compared = 0
    for name, tensor in adapted.state_dict().items():
        canon = canonical_name(name)
        if canon is None or parts.in_head(canon):
            continue
        assert torch.equal(tensor, base_state[canon]), canon
        compared += 1
    assert compared == len([k for k in base_state if not parts.in_head(k)])
    assert info["base_hash"] == base_hash(fresh, adapted.seisforge_adaptation.cfg)
    acc = json.loads((lora_run / "accounting.json").read_text())
    assert acc["method"] == "lora" and 0 < acc["trainable"] < acc["total"] and acc["mergeable"] is True
    assert acc["adapter_file_bytes"] == (lora_run / "best/adapter.safetensors").stat().st_size
    card = json.loads((lora_run / "model_card.json").read_text())
    assert card["training"]["method"]["method"] == "lora" and card["parameters"]["trainable"] == acc["trainable"]
    assert card["training"]["data_hash"] == (lora_run / "data.sha256").read_text().strip()
    assert card["labels"] == "PSN" and card["window_samples"] == 3001 and card["component_order"] == "ZNE"
    rep = json.loads((lora_run / "run_report.json").read_text())
    assert rep["command"] == "adapt" and rep["processed"] > 0 and rep["notes"]["stopped"] == "finished"


def test_deterministic_and_resume(tmp_path, synth_data, pretrain_run, lora_run):
    cfg = adapt_config(tmp_path, synth_data, f"pretrain:{pretrain_run}")
    again = run_adapt(cfg)
    a, b = _adapter(lora_run), _adapter(again)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    stopped = run_adapt(cfg, "--set", "train.stop_after_steps=3")
    assert not (stopped / "best/seisforge.json").exists() or json.loads(
        (stopped / "best/seisforge.json").read_text())["epoch"] == 1
    assert main(["adapt", "--resume", str(stopped)]) == 0
    c = _adapter(stopped)
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_merge_cli_equivalence_and_non_mergeable(tmp_path, synth_data, pretrain_run, lora_run):
    out = tmp_path / "merged"
    assert main(["adapt", "merge", str(lora_run), "--out", str(out)]) == 0
    adapted, merged = load_model(f"run:{lora_run}").model, load_model(f"run:{out}").model
    assert not any("lora" in k for k in merged.state_dict())
    x = torch.randn(2, 3, 3001, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(adapted(x), merged(x), atol=1e-5)
    bottleneck = run_adapt(adapt_config(tmp_path, synth_data, f"pretrain:{pretrain_run}", method="adapter",
                                        train={"epochs": 1, "batch_size": 8, "steps_per_epoch": 1}))
    with pytest.raises(ConfigError, match="not mergeable"):
        from seisforge.train.adapt.run import merge_run

        merge_run(bottleneck, tmp_path / "m2")
    assert main(["adapt", "merge", str(bottleneck), "--out", str(tmp_path / "m3")]) != 0
