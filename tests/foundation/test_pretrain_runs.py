"""``seisforge pretrain``: bit-identical deterministic runs, resume equivalence, continuous sources
(3 and 4 components), the run-directory contract and :func:`load_pretrained_encoder`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pretrain_helpers import tiny_config, write_station

from seisforge.cli import main
from seisforge.models.card import read_card
from seisforge.models.encoders import PatchTransformerEncoder, PhaseNetEncoder
from seisforge.models.encoders.pretrained import load_pretrained_encoder
from seisforge.train.pretrain.loop import pretrain

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CONTRACT = ["encoder.safetensors", "encoder.json", "model_card.json", "config.resolved.yaml", "data.sha256",
            "env.json", "loss.csv", "checkpoints/last.pt", "run_report.json"]


def _bytes(run_dir):
    return (run_dir / "encoder.safetensors").read_bytes()


@pytest.mark.parametrize("objective", ["mae", "contrastive"])
def test_deterministic_and_resume_equivalent(tmp_path, objective):
    a = pretrain(tiny_config(tmp_path, "a", **{"objective.kind": objective}))
    b = pretrain(tiny_config(tmp_path, "b", **{"objective.kind": objective}))
    assert _bytes(a) == _bytes(b)
    c = pretrain(tiny_config(tmp_path, "c", **{"objective.kind": objective, "train.stop_after_steps": 3}))
    assert not (c / "encoder.safetensors").exists()
    cfg = tiny_config(tmp_path, "c", **{"objective.kind": objective})
    assert pretrain(cfg, resume=c) == c
    assert _bytes(c) == _bytes(a)
    assert (c / "loss.csv").read_text().splitlines()[1:][-1].split(",")[:4] == \
        (a / "loss.csv").read_text().splitlines()[-1].split(",")[:4]
    assert json.loads((c / "env.json").read_text())["resumes"]


def test_run_directory_contract_and_round_trip(tmp_path):
    run = pretrain(tiny_config(tmp_path, **{"objective.prior.kind": "l2_to_init", "objective.prior.weight": 0.01}))
    for name in CONTRACT:
        assert (run / name).is_file(), name
    info = json.loads((run / "encoder.json").read_text())
    assert set(info) == {"kind", "args", "in_channels", "component_order", "sampling_rate", "window_samples"}
    assert (info["kind"], info["in_channels"], info["component_order"], info["window_samples"]) == \
        ("patch_transformer", 3, "ZNE", 400)
    card = read_card(run)
    assert card.training["method"] == "pretrain" and card.labels == "none"
    assert card.training["data_hash"] == (run / "data.sha256").read_text().strip()
    enc, loaded = load_pretrained_encoder(run)
    assert isinstance(enc, PatchTransformerEncoder) and card.parameters["encoder"] == sum(
        p.numel() for p in enc.parameters())
    from safetensors.torch import load_file

    saved = load_file(str(run / "encoder.safetensors"))
    assert all(torch.equal(saved[k], v) for k, v in enc.state_dict().items())
    assert loaded["card"].component_order == "ZNE"
    header = (run / "loss.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,global_step,train_loss,dev_loss")


def test_continuous_miniseed_zne_and_zneh(tmp_path):
    write_station(tmp_path / "land", components="ZNE")
    land = pretrain(tiny_config(tmp_path, "land", **{"data.kind": "continuous",
                                                     "data.paths": f"[{tmp_path / 'land'}]"}))
    assert json.loads((land / "run_report.json").read_text())["processed"] == 64
    write_station(tmp_path / "obs", components="ZNEH", fs=50.0)
    obs = pretrain(tiny_config(tmp_path, "obs", **{
        "data.kind": "continuous", "data.paths": f"[{tmp_path / 'obs'}]", "data.components": "ZNEH",
        "encoder.kind": "phasenet", "encoder.init": "seisbench:PhaseNetLight", "encoder.args": "{}"}))
    enc, info = load_pretrained_encoder(obs)
    assert isinstance(enc, PhaseNetEncoder) and info["in_channels"] == 4 and info["component_order"] == "ZNEH"
    assert info["seisbench_model"].in_channels == 4
    report = json.loads((obs / "run_report.json").read_text())
    assert report["handled"]["resampled"] == 4  # 50 Hz data, 100 Hz encoder
    with torch.no_grad():
        assert enc(torch.randn(2, 4, 400))[0].shape[:2] == (2, enc.out_channels)


def test_real_obs_hydrophone_and_cli(tmp_path, shared):
    obs = shared / "data" / "obs_iquique"
    if not obs.is_dir():
        pytest.skip(f"shared OBS data not found at {obs}")
    rc = main(["pretrain", str(CONFIGS / "pretrain_synthetic_mae.yaml"), "--set", f"run.root={tmp_path}",
               "--set", "data.kind=continuous", "--set", f"data.paths=[{obs}]", "--set", "data.components=ZNEH",
               "--set", "data.sampling_rate=50.0", "--set", "data.window_samples=300",
               "--set", "data.windows_per_epoch=16", "--set", "data.dev_windows=4", "--set", "train.batch_size=8",
               "--set", "train.epochs=1", "--set", "data.dev_fraction=0.2"])
    assert rc == 0
    run = next(tmp_path.iterdir())
    enc, info = load_pretrained_encoder(run)
    assert info["component_order"] == "ZNEH" and enc.in_channels == 4
    assert np.isfinite(float((run / "loss.csv").read_text().splitlines()[-1].split(",")[3]))
