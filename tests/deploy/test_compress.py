"""``seisforge compress``: pruning, distillation, the chain, INT8 accuracy control, the trade-off report."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import seisbench.models as sbm
import torch

from seisforge.cli import main
from seisforge.errors import ConfigError
from seisforge.models.registry import load_model

FAST = ["--set", "train.steps_per_epoch=2", "--set", "train.batch_size=4", "--set", "deterministic=true"]


@pytest.mark.parametrize("cls", [sbm.PhaseNet, sbm.PhaseNetLight])
def test_pruned_models_keep_output_shape_macs_and_load_through_the_registry(cls, tmp_path):
    from seisforge.compress.prune import prune_channels
    from seisforge.compress.report import graph_stats
    from seisforge.deploy.runtimes.artifact import network_graph
    from seisforge.models.run_dir import save_best

    torch.manual_seed(0)
    model = cls()
    summary = prune_channels(model, 0.5)
    assert summary["parameters_after"] < summary["parameters_before"] / 3  # channels really removed
    x = torch.randn(2, 3, 3001)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 3, 3001)
    save_best(model, tmp_path / "run", "test")
    assert json.loads((tmp_path / "run" / "best" / "seisforge.json").read_text())["resized"] is True
    loaded = load_model(f"run:{tmp_path / 'run'}")
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), y, atol=1e-6)
    # MACs counted on the OpenVINO graph equal the conv MACs seen by torch hooks on the same network
    macs = []

    def hook(mod, inp, out):
        w = mod.weight
        n = inp[0].numel() if isinstance(mod, torch.nn.ConvTranspose1d) else out.numel()
        macs.append(n * w.shape[1] * w.shape[2])

    for mod in model.modules():
        if isinstance(mod, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            mod.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.randn(1, 3, 3001))
    stats = graph_stats(network_graph(loaded))
    assert stats["macs_per_window"] == sum(macs)
    params = sum(p.numel() for p in model.parameters())
    assert 0.98 * params <= stats["parameters"] <= params  # the graph folds batch norm into the convs


def test_a_ratio_that_removes_whole_layers_is_a_clear_error():
    from seisforge.compress.prune import prune_channels

    for ratio in (1.0, 1.5):
        with pytest.raises(ConfigError, match="whole layers"):
            prune_channels(sbm.PhaseNetLight(), ratio)
    with pytest.raises(ConfigError, match=r"must be in \(0, 1\)"):
        prune_channels(sbm.PhaseNetLight(), 0.0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from seisforge.bench.picking.targets import generate_targets
    from seisforge.data.synthetic import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("compress")
    synthesize(SynthConfig(events=40, noise_traces=10, seed=5), root / "data")
    generate_targets(root / "data", root / "targets", seed=1)
    return root


@pytest.fixture(scope="module")
def chain(tiny, weights):
    """distill (half-width PhaseNetLight from the ETHZ teacher) -> prune -> fp16, each its own folder."""
    data, out = str(tiny / "data"), tiny / "chain"
    assert main(["compress", "PhaseNetLight", "--weights", weights, "--method", "distill", "--student-width", "0.5",
                 "--epochs", "1", "--dataset", data, *FAST, "--out", str(out / "distill")]) == 0
    assert main(["compress", f"run:{out / 'distill'}", "--method", "prune", "--ratio", "0.3", "--epochs", "1",
                 "--dataset", data, "--targets", str(tiny / "targets"), "--no-report", *FAST,
                 "--out", str(out / "prune")]) == 0
    assert main(["compress", f"run:{out / 'prune'}", "--method", "fp16", "--out", str(out / "fp16")]) == 0
    return out


def test_chain_steps_are_registry_models_with_cards(chain, model):
    from seisforge.models.card import read_card

    teacher = sum(p.numel() for p in model.parameters())
    distill = load_model(f"run:{chain / 'distill'}").model
    pruned = load_model(f"run:{chain / 'prune'}").model
    n_d, n_p = (sum(p.numel() for p in m.parameters()) for m in (distill, pruned))
    assert n_d < teacher / 3.5 and n_p < n_d
    cards = {k: read_card(chain / k / "model_card.json") for k in ("distill", "prune", "fp16")}
    assert cards["distill"].training["method"] == "distill"
    assert cards["prune"].training["parent"] == f"run:{chain / 'distill'}"
    assert cards["fp16"].training["method"] == "fp16"
    assert (chain / "distill" / "student_init" / "best" / "seisforge.json").is_file()
    # float16 OpenVINO weights equal the torch model to float16 rounding
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((4, 3, 3001)).astype(np.float32))
    ov = load_model(f"openvino:{chain / 'fp16'}").model
    with torch.no_grad():
        assert np.abs(ov(x).numpy() - pruned(x).numpy()).max() < 1e-2


def test_trained_steps_store_dev_tuned_thresholds_in_card_and_weights(chain, model):
    from seisforge.deploy.engine import FastPicker
    from seisforge.models.card import read_card

    distill, prune = (read_card(chain / k / "model_card.json") for k in ("distill", "prune"))
    # without --targets the student keeps its teacher's thresholds
    assert distill.training["thresholds"] == "parent's card thresholds"
    teacher_thr = model.default_args.get("P_threshold", 0.3)
    assert distill.thresholds["P"] == pytest.approx(teacher_thr)
    # with --targets they are tuned on dev against the parent's picks, and the weights carry them to pick
    assert prune.training["thresholds"].startswith("tuned on dev")
    tuning = prune.training["threshold_tuning"]
    assert prune.training["parent_thresholds"] == distill.thresholds
    for phase in ("P", "S"):
        assert 0 < prune.thresholds[phase] < 1
        assert tuning[f"{phase}_dev_agreement_f1"] >= tuning[f"{phase}_dev_agreement_f1_parent_threshold"] - 1e-12
    meta = json.loads((chain / "prune" / "best" / "model.json").read_text())["default_args"]
    assert meta["P_threshold"] == pytest.approx(prune.thresholds["P"])
    picker = FastPicker(load_model(f"run:{chain / 'prune'}").model, batch_size=8)
    assert picker.threshold("S") == pytest.approx(prune.thresholds["S"])


def test_a_student_given_as_run_dir_is_trained_further_and_left_in_place(chain, tiny, tmp_path):
    data = str(tiny / "data")
    assert main(["compress", f"run:{chain / 'distill'}", "--method", "distill", "--student", f"run:{chain / 'prune'}",
                 "--epochs", "1", "--dataset", data, *FAST, "--out", str(tmp_path / "more")]) == 0
    assert (chain / "prune" / "best" / "model.safetensors").is_file()  # the given student was not moved
    assert not (tmp_path / "more" / "student_init").exists()
    n_more, n_given = (sum(p.numel() for p in load_model(f"run:{d}").model.parameters())
                       for d in (tmp_path / "more", chain / "prune"))
    assert n_more == n_given  # trained further at the given (pruned) size


def test_a_student_normalises_its_windows_as_its_teacher(chain, tiny, model, weights, tmp_path, capsys):
    from seisforge.models.card import read_card
    from seisforge.models.run_dir import save_best

    # the ETHZ teacher peak-normalises; a fresh student built with SeisBench's default (std) fed the
    # teacher std-normalised windows during distillation and was deployed peak-normalised by its card
    assert model.norm == "peak"
    for step in ("distill", "prune"):
        student = load_model(f"run:{chain / step}").model
        assert (student.norm, student.norm_amp_per_comp) == (model.norm, model.norm_amp_per_comp)
        assert read_card(chain / step / "model_card.json").normalisation["amp_norm"] == "peak"
    # a given student that normalises otherwise is refused before training
    save_best(sbm.PhaseNetLight(phases="PSN", norm="std"), tmp_path / "std_student", "test")
    err = _error(["compress", "PhaseNetLight", "--weights", weights, "--method", "distill",
                  "--student", f"run:{tmp_path / 'std_student'}", "--epochs", "1", "--dataset", str(tiny / "data"),
                  *FAST, "--out", str(tmp_path / "o")], capsys)
    assert "normalises windows with {'norm': 'peak'" in err and "'norm': 'std'" in err


def test_a_model_tuned_against_itself_agrees_perfectly_on_dev(chain, tiny):
    from seisforge.compress.thresholds import teacher_thresholds

    loaded = load_model(f"run:{chain / 'distill'}")
    parent_thr = {"P": 0.05, "S": 0.05}
    thr, info = teacher_thresholds(loaded, loaded, parent_thr, tiny / "data", tiny / "targets")
    for phase in ("P", "S"):
        if info[f"{phase}_parent_picks"]:
            assert info[f"{phase}_dev_agreement_f1"] == 1.0
            assert thr[phase] >= parent_thr[phase]  # the lowest threshold that keeps every parent pick


def test_compressed_models_run_through_bench_predict_and_pick(chain, tiny, tmp_path):
    from seisforge.deploy.store import read_picks
    from seisforge.testing import continuous_stream

    common = ["bench", "predict", "--dataset", str(tiny / "data"), "--targets", str(tiny / "targets")]
    for spec in (f"run:{chain / 'prune'}", f"openvino:{chain / 'fp16'}"):
        out = tmp_path / spec.split(":")[0]
        assert main([*common, "--model", spec, "--out", str(out)]) == 0
        assert len(pd.read_csv(out / "test_task23.csv")) > 0
    st, _ = continuous_stream(duration_s=600, n_events=3, seed=2)
    (tmp_path / "mseed").mkdir()
    st.write(str(tmp_path / "mseed" / "XX.SYN.mseed"), format="MSEED")
    for spec in (f"run:{chain / 'prune'}", f"openvino:{chain / 'fp16'}"):
        out = tmp_path / ("pick_" + spec.split(":")[0])
        assert main(["pick", "--no-progress", "--input", str(tmp_path / "mseed"), "--model", spec,
                     "--precision", "fp32", "--threshold-P", "0.05", "--threshold-S", "0.05", "--out", str(out)]) == 0
        assert read_picks(out) is not None


def test_report_holds_every_field(chain, tiny, tmp_path):
    out = tmp_path / "report"
    assert main(["bench", "compression", str(chain / "prune"), str(chain / "fp16"), "--dataset", str(tiny / "data"),
                 "--targets", str(tiny / "targets"), "--engine-batch", "16", "--station-hours", "0.1",
                 "--noise-hours", "0.05", "--repeats", "3", "--bootstrap", "20", "--out", str(out)]) == 0
    report = json.loads((out / "compression_report.json").read_text())
    assert report["base"] == f"run:{chain / 'distill'}" and len(report["rows"]) == 3
    assert report["machine"]["cpu_flags"].keys() >= {"avx2", "avx512_bf16", "avx512_vnni"}
    for i, row in enumerate(report["rows"]):
        assert row.keys() >= {"parameters", "file_bytes", "weight_bytes", "macs_per_window", "latency_ms", "station_days_per_s",
                              "bench", "paired", "agreement", "false_picks_per_station_hour",
                              "base_false_picks_per_station_hour"}
        assert row["parameters"] > 0 and row["file_bytes"] > 0 and row["macs_per_window"] > 0
        assert row["station_days_per_s"] > 0
        assert {"batch1", "batch"} <= row["latency_ms"]["openvino"].keys()
        assert {"median", "p95"} <= row["latency_ms"]["openvino"]["batch1"].keys()
        assert row["agreement"].keys() >= {"f1_one_sample", "f1_0.1s", "shift_s", "unmatched"}
        assert row["agreement"]["unmatched"].keys() == {"base_only", "model_only"}
        assert "test_P_recall" in row["bench"]["metrics"] and row["bench"]["ci95"]
        if i:
            assert "test_P_recall" in row["paired"]["delta"] and "test_P_recall" in row["paired"]["ci95"]
    assert report["rows"][0]["agreement"]["f1_one_sample"] in (1.0, None) or np.isnan(
        report["rows"][0]["agreement"]["f1_one_sample"])
    zero = {"timing": 0, "second_trigger": 0, "detection": 0}
    assert report["rows"][0]["agreement"]["unmatched"] == {"base_only": zero, "model_only": zero}
    assert report["rows"][1]["latency_ms"]["torch"] is not None and report["rows"][2]["latency_ms"]["torch"] is None
    assert (out / "compression_pareto.png").stat().st_size > 0
    assert (out / "compression_report.md").read_text().count("\n") == 5


def _error(argv, capsys) -> str:
    """The CLI's error message for ``argv`` (which must fail)."""
    capsys.readouterr()
    assert main(argv) != 0
    return capsys.readouterr().err


def test_int8_accuracy_control_respects_max_drop_or_stops_with_the_best_drop(chain, tiny, tmp_path, capsys):
    args = ["compress", f"run:{chain / 'prune'}", "--method", "int8", "--dataset", str(tiny / "data"),
            "--targets", str(tiny / "targets"), "--no-report", "--calibration-windows", "40"]
    assert main([*args, "--max-drop", "0.5", "--out", str(tmp_path / "ok")]) == 0
    notes = json.loads((tmp_path / "ok" / "compress_report.json").read_text())["notes"]
    assert notes["dev_drop"] <= 0.5
    assert notes["dev_metric_fp32"] - notes["dev_metric_int8"] == pytest.approx(notes["dev_drop"])
    # ONNX Runtime QDQ reverts nothing: a zero drop passes, any loss must stop with the drop reached
    capsys.readouterr()
    code = main([*args, "--backend", "onnxruntime", "--max-drop", "0", "--out", str(tmp_path / "zero")])
    if code == 0:
        assert json.loads((tmp_path / "zero" / "compress_report.json").read_text())["notes"]["dev_drop"] <= 1e-12
    else:
        err = capsys.readouterr().err
        assert "best drop reached" in err and "more than --max-drop 0" in err
        assert not (tmp_path / "zero" / "compress_report.json").exists()


def test_bad_inputs_are_clear_errors(chain, tiny, tmp_path, capsys):
    import shutil

    base = ["--method", "int8", "--dataset", str(tiny / "data"), "--targets", str(tiny / "targets"), "--no-report"]
    # a card without the fields calibration relies on (normalisation, sampling rate)
    bad = tmp_path / "badcard"
    shutil.copytree(chain / "prune", bad)
    card = json.loads((bad / "model_card.json").read_text())
    del card["sampling_rate"], card["normalisation"]
    (bad / "model_card.json").write_text(json.dumps(card))
    assert re.search("sampling_rate", _error(["compress", f"run:{bad}", *base, "--out", str(tmp_path / "o1")], capsys))
    # too few calibration windows: a dev split with a handful of windows
    small = tmp_path / "small_targets"
    small.mkdir()
    for name in ("task1.csv", "task23.csv"):
        t = pd.read_csv(tiny / "targets" / name)
        t[(t["trace_split"] != "dev") | (t.index < t[t["trace_split"] == "dev"].index.min() + 3)].to_csv(
            small / name, index=False)
    assert re.search("INT8 calibration needs at least", _error(["compress", f"run:{chain / 'prune'}", "--method", "int8", "--dataset", str(tiny / "data"),
              "--targets", str(small), "--no-report", "--out", str(tmp_path / "o2")], capsys))
    # an onnx: file that is not a picker
    (tmp_path / "x.onnx").write_bytes(b"not onnx at all")
    assert re.search("not an ONNX model", _error(["compress", f"onnx:{tmp_path / 'x.onnx'}", "--method", "fp16", "--out", str(tmp_path / "o3")], capsys))
    # pruning an exported artifact, and a whole-layer ratio, through the CLI
    assert re.search("needs a torch model", _error(["compress", f"openvino:{chain / 'fp16'}", "--method", "prune", "--out", str(tmp_path / "o4")], capsys))
    assert re.search("whole layers", _error(["compress", f"run:{chain / 'prune'}", "--method", "prune", "--ratio", "1", "--epochs", "0",
              "--out", str(tmp_path / "o5")], capsys))
    # dev-tuned thresholds without dev targets: refused before any training
    assert re.search("--thresholds teacher tunes the thresholds on dev windows", _error(
        ["compress", f"run:{chain / 'prune'}", "--method", "prune", "--ratio", "0.2", "--epochs", "0",
         "--thresholds", "teacher", "--out", str(tmp_path / "o6")], capsys))
    assert not (tmp_path / "o6").exists()


def test_a_second_picker_reads_the_exported_graph_and_runtime_choice_from_the_cache(model, tmp_path, monkeypatch):
    from seisforge.deploy import precision
    from seisforge.deploy.engine import FastPicker
    from seisforge.deploy.runtimes import export

    monkeypatch.setenv("SEISFORGE_CACHE", str(tmp_path / "cache"))
    first = FastPicker(model, batch_size=32, backend="auto", precision="fp32")
    assert list((tmp_path / "cache" / "graphs").glob("*.onnx")) and list((tmp_path / "cache" / "choices").glob("*"))
    traced, timed = [], []
    monkeypatch.setattr(export, "_trace", lambda *a: traced.append(a))
    monkeypatch.setattr(precision, "time_pass", lambda *a: timed.append(a))
    second = FastPicker(model, batch_size=32, backend="auto", precision="fp32")
    assert traced == [] and timed == []  # nothing exported, nothing timed
    assert second.backend == first.backend
    x = np.random.default_rng(0).standard_normal((1, 3, 6000)).astype(np.float32)
    import obspy

    st = obspy.Stream([obspy.Trace(x[0, i], {"channel": f"HH{c}", "station": "S", "sampling_rate": 100.0})
                       for i, c in enumerate("ZNE")])
    a = [(p.phase, p.peak_time) for p in first.classify(st)]
    assert a == [(p.phase, p.peak_time) for p in second.classify(st)]
    monkeypatch.setenv("SEISFORGE_CACHE", "off")
    FastPicker(model, batch_size=32, backend="auto", precision="fp32")
    assert len(traced) >= 1  # the cache switched off: exported again


def test_int8_nncf_onnx_is_a_compact_accuracy_controlled_onnx_picker(tiny, weights, tmp_path):
    from seisforge.deploy.runtimes.artifact import network_graph

    out = tmp_path / "int8"
    assert main(["compress", "PhaseNetLight", "--weights", weights, "--method", "int8", "--backend", "nncf-onnx",
                 "--dataset", str(tiny / "data"), "--targets", str(tiny / "targets"), "--no-report",
                 "--calibration-windows", "40", "--max-drop", "0.5", "--out", str(out)]) == 0
    notes = json.loads((out / "compress_report.json").read_text())["notes"]
    assert notes["dev_drop"] <= 0.5
    assert notes["dev_metric_fp32"] - notes["dev_metric_int8"] == pytest.approx(notes["dev_drop"])
    float_graph = network_graph(load_model("seisbench:PhaseNetLight", weights=weights))
    assert (out / "model.onnx").stat().st_size * 3.5 < len(float_graph)  # the target, with the card inside
    picker = load_model(f"onnx:{out}").model
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 3001)).astype(np.float32))
    with torch.no_grad():
        y = picker(x).numpy()
    assert y.shape == (2, 3, 3001) and np.allclose(y.sum(axis=1), 1, atol=1e-4)
