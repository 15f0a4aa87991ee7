"""``seisforge adapt`` with ``task: detection`` and ``task: magnitude``: learning, frozen base, resume,
cards, scoring with the dev-tuned threshold, missing magnitudes, every method on the task models."""

from __future__ import annotations

import csv
import json
import shutil

import pandas as pd
import pytest
import torch
from adapt_helpers import adapt_config, run_adapt
from safetensors.torch import load_file

from seisforge.cli import main
from seisforge.config import load_config
from seisforge.errors import ConfigError, DataError
from seisforge.models.adapt import METHOD_NAMES, AdaptConfig, account, apply, base_hash
from seisforge.models.adapt.base import build_base
from seisforge.models.adapt.io import canonical_name
from seisforge.models.encoders import EncoderTaskModel
from seisforge.models.registry import load_model
from seisforge.train.adapt.run import AdaptRunConfig, adapt

#: an easy set: high-SNR events and as many noise traces as the splits need
EASY = dict(events=24, noise_traces=16, seed=1, duration_s=40.0, snr_db_range=(10.0, 30.0))
TASK_TRAIN = {"epochs": 2, "batch_size": 8, "min_samples_per_epoch": 64, "patience": 5}


@pytest.fixture(scope="module")
def easy_data(tmp_path_factory):
    from seisforge.data.synthetic import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("easy") / "data"
    synthesize(SynthConfig(**EASY), out)
    return out


@pytest.fixture(scope="module")
def det_cfg(tmp_path_factory, easy_data, pretrain_run):
    tmp = tmp_path_factory.mktemp("det")
    return adapt_config(tmp, easy_data, f"pretrain:{pretrain_run}", method="full", task="detection",
                        optim={"lr": 3e-3}, augment={"pick_window_prob": 1.0}, train=TASK_TRAIN)


@pytest.fixture(scope="module")
def det_run(det_cfg):
    return run_adapt(det_cfg)


def _rows(run) -> list[dict[str, str]]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_detection_learns_and_is_scored_with_the_dev_threshold(det_run):
    rows = _rows(det_run)
    assert float(rows[-1]["dev_auc"]) >= 0.9 and float(rows[-1]["dev_f1"]) >= 0.8   # an untrained head: ~0.5
    card = json.loads((det_run / "model_card.json").read_text())
    assert card["task"] == "detection" and card["labels"] == "EN" and card["model_class"] == "EncoderTaskModel"
    assert card["outputs"]["classes"] == ["event", "noise"] and 0 < card["thresholds"]["E"] < 1
    res = json.loads((det_run / "task_metrics.json").read_text())
    assert res["eval_split"] == "test" and res["threshold"] == pytest.approx(card["thresholds"]["E"], abs=1e-6)
    ev = res["eval"]
    assert ev["n_windows"] > ev["n_event_windows"] > 0 and 0.5 < ev["auc"] <= 1
    for key in ("auc", "f1"):
        lo, hi = ev["ci95"][key]
        assert lo <= ev[key] <= hi
    info = json.loads((det_run / "task.json").read_text())
    assert info["noise_traces"]["train"] > 0 and info["noise_traces"]["dev"] > 0


def test_detection_run_is_deterministic_and_resumes_exactly(det_cfg, det_run):
    stopped = run_adapt(det_cfg, "--set", "train.stop_after_steps=10")   # in epoch 2 of 2 (8 steps each)
    assert (stopped / "best").exists() and not (stopped / "task_metrics.json").exists()
    assert main(["adapt", "--resume", str(stopped)]) == 0
    a, b = load_file(str(det_run / "best/adapter.safetensors")), load_file(str(stopped / "best/adapter.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (stopped / "task_metrics.json").read_text() == (det_run / "task_metrics.json").read_text()


def test_a_detection_model_is_no_picker(tmp_path, det_run, easy_data, shared, capsys):
    loaded = load_model(f"run:{det_run}")
    assert isinstance(loaded.model, EncoderTaskModel) and loaded.model(torch.randn(2, 3, 3001)).shape == (2, 2)
    src = shared / "data" / "obs_iquique"
    assert main(["pick", "--no-progress", "--model", f"run:{det_run}", "--input", str(src),
                 "--out", str(tmp_path / "p")]) != 0
    assert main(["bench", "targets", str(easy_data), "--out", str(tmp_path / "t")]) == 0
    capsys.readouterr()
    assert main(["bench", "predict", "--dataset", str(easy_data), "--targets", str(tmp_path / "t"),
                 "--model", f"run:{det_run}", "--out", str(tmp_path / "pred")]) != 0
    assert "detection model" in capsys.readouterr().err and not (tmp_path / "pred" / "task1.csv").exists()


def test_magnitude_learns_from_amplitudes_and_keeps_the_base(tmp_path, easy_data, pretrain_run):
    cfg = adapt_config(tmp_path, easy_data, f"pretrain:{pretrain_run}", method="linear_probe", task="magnitude",
                       optim={"lr": 0.02}, augment={"pick_window_prob": 1.0},
                       train={**TASK_TRAIN, "epochs": 6, "early_stopping_metric": "dev_mag_mae"})
    run = run_adapt(cfg)
    info = json.loads((run / "best/seisforge.json").read_text())
    task = json.loads((run / "task.json").read_text())
    assert info["base"]["task"] == "magnitude" and task["dropped_without_magnitude"]["train"] > 0
    assert info["base"]["head"] == {"offset": task["target_mean"], "scale": task["target_std"]}
    meta = pd.read_csv(easy_data / "metadata.csv")
    mags = meta[meta["source_magnitude"].notna()]
    assert task["target_mean"] == pytest.approx(mags.loc[mags["split"] == "train", "source_magnitude"].mean())
    dev_mags = mags.loc[mags["split"] == "dev", "source_magnitude"]
    baseline = float((dev_mags - task["target_mean"]).abs().mean())     # always predicting the train mean
    rows = _rows(run)
    assert min(float(r["dev_mag_mae"]) for r in rows) < 0.9 * baseline
    assert float(rows[-1]["train_loss"]) < 0.7                          # the mean predictor's is about 1
    fresh = build_base({**info["base"], "head": None})   # an unseeded head: the hash leaves the head out
    model = load_model(f"run:{run}").model
    assert base_hash(fresh, model.seisforge_adaptation.cfg) == info["base_hash"]   # frozen body unchanged
    assert model.norm == "none" and model.amplitude_features == "std" and model.head.offset == task["target_mean"]
    res = json.loads((run / "task_metrics.json").read_text())
    assert res["eval"]["n"] > 0 and res["eval"]["mae"] <= res["eval"]["rmse"] < 1.0
    card = json.loads((run / "model_card.json").read_text())
    assert card["task"] == "magnitude" and card["outputs"]["targets"] == ["source_magnitude"]
    assert card["thresholds"] == {} and card["labels"] == "M" and card["normalisation"]["amp_norm"] == "none"


def test_missing_magnitudes_are_a_clear_error(tmp_path, easy_data, pretrain_run):
    data = tmp_path / "no_mag"
    shutil.copytree(easy_data, data)
    meta = pd.read_csv(data / "metadata.csv")
    meta.drop(columns=["source_magnitude"]).to_csv(data / "metadata.csv", index=False)
    cfg = adapt_config(tmp_path, data, f"pretrain:{pretrain_run}", task="magnitude")
    with pytest.raises(DataError, match="needs event magnitudes .*source_magnitude.* has none"):
        adapt(load_config(AdaptRunConfig, cfg))
    assert main(["adapt", str(cfg)]) != 0
    no_noise = tmp_path / "no_noise"
    shutil.copytree(easy_data, no_noise)
    meta[meta["source_id"].notna()].to_csv(no_noise / "metadata.csv", index=False)
    cfg = adapt_config(tmp_path, no_noise, f"pretrain:{pretrain_run}", task="detection")
    with pytest.raises(DataError, match="needs noise traces"):
        adapt(load_config(AdaptRunConfig, cfg))


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_every_method_on_both_task_models(method, pretrain_run):
    for task in ("detection", "magnitude"):
        model = build_base({"spec": f"pretrain:{pretrain_run}", "task": task})
        before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
        model = apply(model, AdaptConfig(method, rank=2, top_k=1))
        acc = account(model)
        assert 0 < acc.trainable <= acc.total and acc.head == sum(p.numel() for p in model.head.parameters())
        out = model(torch.randn(4, 3, 3001))
        assert out.shape == ((4, 2) if task == "detection" else (4,))
        out.float().square().sum().backward()
        torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
        assert all(p.grad is None for p in model.parameters() if not p.requires_grad)
        after = {canonical_name(k): v for k, v in model.encoder.state_dict().items() if canonical_name(k) in before}
        assert len(after) == len(before)
        changed = [k for k, v in after.items() if not torch.equal(v, before[k])]
        if method in ("lora", "dora", "ia3", "adapter", "prompt", "linear_probe"):
            assert changed == []                       # the frozen encoder is untouched by a step
        elif method in ("full", "bitfit", "partial"):
            assert changed and all(k.endswith("bias") for k in changed) == (method == "bitfit")


def test_seisbench_picker_start_takes_its_encoder(ethz_weights):
    base = {"spec": "seisbench:PhaseNetLight", "weights": ethz_weights, "task": "detection"}
    model = build_base(base)
    assert model.in_samples == 3001 and model.component_order == "ZNE" and model.sampling_rate == 100
    assert model(torch.randn(2, 3, 3001)).shape == (2, 2)
    assert set(dict(model.encoder.named_children())) == {"inc", "in_bn", "blocks"}   # no decoder
    lora = apply(build_base(base), AdaptConfig("lora", rank=2))
    assert account(lora).trainable < account(lora).total
    with pytest.raises(ConfigError, match="token"):
        apply(build_base(base), AdaptConfig("prompt"))


def test_a_phasenet_pretrain_base_gives_its_encoder_to_both_heads(tmp_path):
    import seisbench.models as sbm

    from seisforge.models.encoders import PhaseNetEncoder
    from seisforge.models.encoders.pretrained import encoder_args, save_encoder

    torch.manual_seed(0)
    source = sbm.PhaseNetLight()
    encoder = PhaseNetEncoder.from_seisbench(source)
    kind, args = encoder_args(encoder, source)
    save_encoder(tmp_path, encoder, {"kind": kind, "args": args, "in_channels": 3, "component_order": "ZNE",
                                     "sampling_rate": 100.0, "window_samples": 3001})
    det = build_base({"spec": f"pretrain:{tmp_path}", "task": "detection"})
    mag = build_base({"spec": f"pretrain:{tmp_path}", "task": "magnitude"})
    assert isinstance(det.encoder, PhaseNetEncoder) and det.norm == "std" and mag.norm == "none"
    assert all(torch.equal(det.encoder.state_dict()[k], v) for k, v in encoder.state_dict().items())
    x = torch.randn(2, 3, 3001)
    assert det(x).shape == (2, 2) and mag(x).shape == (2,)
    # the magnitude model normalises inside, so only the log amplitude (+2 for 100 x) reaches the head
    head_in = []
    mag.head.register_forward_hook(lambda mod, args, out: head_in.append(args))
    mag(x), mag(100 * x)
    (f1, a1), (f2, a2) = head_in
    assert torch.allclose(f1, f2, atol=1e-4) and torch.allclose(a2 - a1, torch.full_like(a1, 2.0), atol=1e-4)
