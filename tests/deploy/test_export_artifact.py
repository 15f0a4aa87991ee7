"""``seisforge export`` and the ``onnx:PATH`` spec: an exported picker runs without its torch class."""

from __future__ import annotations

import json

import numpy as np
import obspy
import pandas as pd
import pytest
import torch

from seisforge.cli import main
from seisforge.deploy.store import read_picks
from seisforge.errors import DataError
from seisforge.models.registry import load_model


@pytest.fixture(scope="module")
def exported(weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "pnl"
    assert main(["export", "PhaseNetLight", "--weights", weights, "--out", str(out)]) == 0
    return out


def test_onnx_artifact_equals_torch_and_carries_its_card(exported, model):
    card = json.loads((exported / "model_card.json").read_text())
    assert (card["sampling_rate"], card["window_samples"], card["labels"]) == (100.0, model.in_samples, model.labels)
    onnx_model = load_model(f"onnx:{exported}").model
    assert onnx_model.card.component_order == model.component_order
    x = torch.randn(5, 3, model.in_samples, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(model.annotate_batch_pre(x, {}))
        got = onnx_model(onnx_model.annotate_batch_pre(x, {}))
    assert torch.allclose(got, want, atol=1e-5)


def test_openvino_artifact_equals_torch(weights, model, tmp_path):
    openvino = pytest.importorskip("openvino")
    assert main(["export", "PhaseNetLight", "--weights", weights, "--format", "openvino",
                 "--out", str(tmp_path)]) == 0
    compiled = openvino.Core().compile_model(str(tmp_path / "model.xml"), "CPU",
                                             {"INFERENCE_PRECISION_HINT": "f32"})
    x = model.annotate_batch_pre(torch.randn(2, 3, model.in_samples), {})
    with torch.no_grad():
        want = model(x).numpy()
    got = compiled(x.numpy())[0]
    assert np.abs(got - want).max() < 1e-4
    assert "seisforge.model_card" in open(tmp_path / "model.xml").read()


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_onnx_picks_equal_the_torch_models_picks(shared, weights, model, exported, tmp_path, precision):
    src = shared / "data" / "obs_iquique"
    args = ["pick", "--no-progress", "--input", str(src), "--precision", precision, "--threshold-P", "0.1",
            "--threshold-S", "0.1"]
    assert main([*args, "--model", f"onnx:{exported}", "--out", str(tmp_path / "onnx")]) == 0
    assert main([*args, "--model", "PhaseNetLight", "--weights", weights, "--out", str(tmp_path / "torch")]) == 0
    a, b = read_picks(tmp_path / "onnx"), read_picks(tmp_path / "torch")
    key = ["trace_id", "phase", "peak_time", "start_time", "end_time"]
    assert len(a) >= 2
    pd.testing.assert_frame_equal(a[key].sort_values(key).reset_index(drop=True),
                                  b[key].sort_values(key).reset_index(drop=True))
    classify = load_model(f"onnx:{exported}").model.classify(obspy.read(str(src / "*")), P_threshold=0.1,
                                                             S_threshold=0.1).picks
    assert sorted(p.peak_time.ns for p in classify) == sorted(a.peak_time.astype("int64"))


def test_onnx_model_in_bench_predict_equals_torch(exported, weights, tmp_path):
    from seisforge.bench.picking.targets import generate_targets
    from seisforge.data.synthetic import SynthConfig, synthesize

    synthesize(SynthConfig(events=12, noise_traces=4, seed=3), tmp_path / "data")
    generate_targets(tmp_path / "data", tmp_path / "targets", seed=1)
    common = ["bench", "predict", "--dataset", str(tmp_path / "data"), "--targets", str(tmp_path / "targets")]
    assert main([*common, "--model", f"onnx:{exported}", "--out", str(tmp_path / "p_onnx")]) == 0
    assert main([*common, "--model", "PhaseNetLight", "--weights", weights, "--out", str(tmp_path / "p_torch")]) == 0
    for name in ("test_task1.csv", "test_task23.csv"):
        a, b = pd.read_csv(tmp_path / "p_onnx" / name), pd.read_csv(tmp_path / "p_torch" / name)
        num = [c for c in a.columns if c.endswith(("_prob", "_sample", "_score")) and a[c].dtype.kind == "f"]
        assert num and np.allclose(a[num], b[num], atol=1e-4, equal_nan=True)


def test_files_that_are_not_exported_pickers_are_clear_errors(exported, tmp_path):
    import onnx

    (tmp_path / "garbage.onnx").write_bytes(b"\x00\x01 not onnx")
    with pytest.raises(DataError, match="not an ONNX model"):
        load_model(f"onnx:{tmp_path / 'garbage.onnx'}")
    proto = onnx.load(str(exported / "model.onnx"))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "nocard.onnx"))
    with pytest.raises(DataError, match="no seisforge model card"):
        load_model(f"onnx:{tmp_path / 'nocard.onnx'}")
    proto = onnx.load(str(exported / "model.onnx"))
    entry = next(p for p in proto.metadata_props if p.key == "seisforge.model_card")
    card = json.loads(entry.value)
    card["labels"] = "PS"  # the graph has 3 outputs
    entry.value = json.dumps(card)
    onnx.save(proto, str(tmp_path / "wrong.onnx"))
    with pytest.raises(DataError, match="not a picker graph"):
        load_model(f"onnx:{tmp_path / 'wrong.onnx'}")
