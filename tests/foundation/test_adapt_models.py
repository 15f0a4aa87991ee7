"""Adapted pickers as SeisBench models: bench predict, seisforge pick = classify, model cards, bad input."""

from __future__ import annotations

import json
import shutil

import obspy
import pandas as pd
import pytest
from adapt_helpers import adapt_config, run_adapt

from seisforge.cli import main
from seisforge.errors import ConfigError, DataError
from seisforge.models.registry import load_model
from seisforge.testing import write_random_pretrain_run


def test_adapted_picker_predict_and_pick_equal_classify(tmp_path, synth_data, ethz_lora_run):
    from seisforge.deploy.store import read_picks
    from seisforge.testing import write_continuous

    spec = f"run:{ethz_lora_run}"
    assert main(["bench", "targets", str(synth_data), "--out", str(tmp_path / "tg")]) == 0
    assert main(["bench", "predict", "--dataset", str(synth_data), "--targets", str(tmp_path / "tg"),
                 "--model", spec, "--out", str(tmp_path / "pred")]) == 0
    pred = pd.read_csv(tmp_path / "pred/test_task23.csv")
    assert len(pred) and pred["p_sample_pred"].notna().any()
    report = json.loads((tmp_path / "pred/run_report.json").read_text())
    assert report["notes"]["model_card_check"] == ["matches the data"]

    write_continuous(tmp_path / "cont", ["XB.AAA."], ["2024-06-01"], duration_s=600, n_events_per_day=6,
                     seed=2)
    assert main(["pick", "--no-progress", "--model", spec, "--input", str(tmp_path / "cont" / "waveforms"),
                 "--out", str(tmp_path / "picks")]) == 0
    ours = read_picks(tmp_path / "picks")
    model = load_model(spec).model
    ref = model.classify(obspy.read(str(tmp_path / "cont" / "waveforms" / "*"))).picks
    assert len(ref) >= 2
    got = sorted(zip(ours.trace_id, ours.phase, ours.peak_time.astype("int64")))
    assert got == sorted((p.trace_id, p.phase, p.peak_time.ns) for p in ref)


def test_card_that_contradicts_the_model_or_data(tmp_path, lora_run, synth_data):
    run = tmp_path / "run"
    shutil.copytree(lora_run, run)
    card = json.loads((run / "model_card.json").read_text())
    (run / "model_card.json").write_text(json.dumps({**card, "component_order": "ENZ"}))
    with pytest.raises(DataError, match="contradicts the model"):
        load_model(f"run:{run}")
    from seisforge.models.card import check_card_against_data, read_card

    good = read_card(lora_run / "model_card.json")
    with pytest.raises(DataError, match="missing Z"):
        check_card_against_data(good, 100.0, "NE", source="a 2-C archive")
    check = check_card_against_data(good, 50.0, "ZN")
    assert check.resample_from == 50.0 and check.zero_filled == ("E",)


def test_adapter_for_another_base_names_both(tmp_path, lora_run):
    run = tmp_path / "run"
    shutil.copytree(lora_run, run)
    info = json.loads((run / "best/seisforge.json").read_text())
    other = write_random_pretrain_run(tmp_path / "other", {"patch_samples": 100, "d_model": 16, "depth": 2,
                                                           "n_heads": 2, "mlp_ratio": 2.0}, seed=99)
    info["base"]["spec"] = f"pretrain:{other}"
    (run / "best/seisforge.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match=r"trained on base EncoderPicker \(hash .*given base is EncoderPicker"):
        load_model(f"run:{run}")
    wider = write_random_pretrain_run(tmp_path / "wider", {"patch_samples": 100, "d_model": 32, "depth": 2,
                                                           "n_heads": 2, "mlp_ratio": 2.0}, seed=3)
    info["base"]["spec"] = f"pretrain:{wider}"
    (run / "best/seisforge.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="trained on base"):
        load_model(f"run:{run}")


def test_bad_fraction_task_and_pretrain_spec(tmp_path, synth_data, pretrain_run):
    base = f"pretrain:{pretrain_run}"
    cfg = adapt_config(tmp_path, synth_data, base)
    assert main(["adapt", str(cfg), "--set", "label_fraction=0.01"]) != 0
    from seisforge.config import load_config
    from seisforge.train.adapt.run import AdaptRunConfig, adapt

    with pytest.raises(ConfigError, match="leaves no event"):
        adapt(load_config(AdaptRunConfig, cfg, ["label_fraction=0.01"]))
    with pytest.raises(ConfigError, match="task must be one of"):
        adapt(load_config(AdaptRunConfig, cfg, ["task=segmentation"]))
    with pytest.raises(ConfigError, match="pretrain run"):
        load_model(f"run:{pretrain_run}")


def test_label_fraction_is_event_level_and_seeded(tmp_path, synth_data, pretrain_run):
    run = run_adapt(adapt_config(tmp_path, synth_data, f"pretrain:{pretrain_run}", label_fraction=0.25,
                                 train={"epochs": 1, "batch_size": 8, "steps_per_epoch": 1}))
    rows = pd.read_csv(run / "data_traces.tsv", sep="\t")
    train = rows[rows["split"] == "train"]
    all_meta = pd.read_csv(synth_data / "metadata.csv")
    n_events = all_meta.loc[all_meta["split"] == "train", "source_id"].dropna().nunique()
    kept = train["event_key"].dropna()
    assert kept.nunique() == round(0.25 * n_events)
    per_event = all_meta[all_meta["source_id"].isin(kept.unique())].groupby("source_id").size()
    assert (kept.value_counts().sort_index() == per_event.sort_index()).all()  # every trace of a kept event
