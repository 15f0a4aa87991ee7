"""``compact_graph``: an INT8 ONNX file in fewer bytes, with exactly the same outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seisforge.cli import main


@pytest.fixture(scope="module")
def qdq(weights, tmp_path_factory):
    """ONNX Runtime QDQ INT8 of PhaseNetLight (per-channel weights), with a model card, and random windows."""
    pytest.importorskip("onnxruntime")
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from seisforge.deploy.runtimes.artifact import model_card_of, network_graph
    from seisforge.models.onnx_picker import CARD_KEY, card_json
    from seisforge.models.registry import load_model

    x = np.random.default_rng(0).standard_normal((8, 3, 3001)).astype(np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"x": x[i:i + 1]} for i in range(len(x))])

        def get_next(self):
            return next(self.items, None)

    tmp = tmp_path_factory.mktemp("qdq")
    loaded = load_model("seisbench:PhaseNetLight", weights=weights)
    (tmp / "f.onnx").write_bytes(network_graph(loaded))
    quantize_static(str(tmp / "f.onnx"), str(tmp / "q.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    proto = onnx.load(str(tmp / "q.onnx"))
    onnx.helper.set_model_props(proto, {CARD_KEY: card_json(model_card_of(loaded))})
    return proto.SerializeToString(), x


def test_compact_graph_changes_only_the_container(qdq):
    import onnx

    from seisforge.deploy.runtimes.compact import compact_graph
    from seisforge.deploy.runtimes.onnx import cpu_session

    plain, x = qdq
    small = compact_graph(plain)
    assert len(small) < 0.75 * len(plain)
    want = cpu_session(plain).run(["y"], {"x": x})[0]
    got = cpu_session(small).run(["y"], {"x": x})[0]
    assert np.array_equal(want, got)  # the same computation, bit for bit
    compact = onnx.load_from_string(small)
    assert [i.name for i in compact.graph.input] == ["x"] and [o.name for o in compact.graph.output] == ["y"]
    assert ({p.key: p.value for p in compact.metadata_props}
            == {p.key: p.value for p in onnx.load_from_string(plain).metadata_props})
    assert all(not n.name for n in compact.graph.node)
    names = [t.name for t in compact.graph.initializer]
    assert len(names) == len(set(names)) and max(map(len, names)) <= 2
    attrs = {(n.op_type, a.name) for n in compact.graph.node for a in n.attribute}
    assert not attrs & {("Conv", "dilations"), ("Conv", "group"), ("Conv", "kernel_shape"),
                        ("ConvTranspose", "kernel_shape")}  # defaults, or the weights' shape
    assert ("Conv", "strides") in attrs and ("ConvTranspose", "output_padding") in attrs  # not defaults: kept
    assert compact_graph(small) == small  # nothing left to take out


def _relu_quantize(zero_point: np.ndarray, relu_also_output: bool = False):
    """x -> Relu -> QuantizeLinear(scale 0.05, zero_point) -> DequantizeLinear -> y (and the Relu as ``r``)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Relu", ["x"], ["relu_out"]),
             helper.make_node("QuantizeLinear", ["relu_out", "scale", "zp"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["y"])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 64])]
    if relu_also_output:
        nodes.append(helper.make_node("Identity", ["relu_out"], ["r"]))
        outputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, [None, 64]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
                              outputs, [numpy_helper.from_array(np.array(0.05, np.float32), "scale"),
                                        numpy_helper.from_array(zero_point, "zp")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("zero_point, bypassed", [(np.array(0, np.uint8), True), (np.array(-128, np.int8), True),
                                                  (np.array(0, np.int8), False), (np.array(3, np.uint8), False)])
def test_a_relu_is_bypassed_only_where_the_quantizer_saturates_negatives_to_its_zero(zero_point, bypassed):
    pytest.importorskip("onnxruntime")
    import onnx

    from seisforge.deploy.runtimes.compact import compact_graph
    from seisforge.deploy.runtimes.onnx import cpu_session

    x = np.random.default_rng(1).standard_normal((32, 64)).astype(np.float32) * 10  # saturates both ends
    x[0, :4] = [-0.0, -0.01, -0.03, 0.02]  # rounds to zero from either side
    for also_output in (False, True):
        plain = _relu_quantize(zero_point, also_output)
        small = compact_graph(plain)
        ops = [n.op_type for n in onnx.load_from_string(small).graph.node]
        assert ("Relu" not in ops) == (bypassed and not also_output)
        for want, got in zip(cpu_session(plain).run(None, {"x": x}), cpu_session(small).run(None, {"x": x}),
                             strict=True):
            assert np.array_equal(want, got)


def test_the_embedded_card_is_minified_and_reads_back_equal(model):
    from seisforge.deploy.runtimes.artifact import model_card_of
    from seisforge.models.card import ModelCard
    from seisforge.models.loaded import LoadedModel
    from seisforge.models.onnx_picker import card_json

    card = model_card_of(LoadedModel(model, source="test", spec="test"))
    text = card_json(card)
    assert ModelCard(**json.loads(text)) == card
    assert ", " not in text and ": " not in text and '"calibration"' not in text  # default: left out
    assert json.loads(text)["schema"] == card.schema  # always stated


def test_a_compacted_artifact_loads_as_onnx_and_picks_like_the_plain_one(qdq, tmp_path):
    import onnx

    from seisforge.deploy.runtimes.artifact import prepare_out, save_onnx
    from seisforge.deploy.runtimes.compact import compact_graph
    from seisforge.deploy.store import read_picks
    from seisforge.models.card import ModelCard
    from seisforge.models.onnx_picker import CARD_KEY, read_onnx_artifact
    from seisforge.testing import continuous_stream

    plain, _ = qdq
    card = ModelCard(**json.loads({p.key: p.value for p in onnx.load_from_string(plain).metadata_props}[CARD_KEY]))
    for name, data in (("plain", plain), ("compact", compact_graph(plain))):
        save_onnx(onnx.load_from_string(data), card, prepare_out(tmp_path / name))
        assert read_onnx_artifact(tmp_path / name)[1] == card
    st, _ = continuous_stream(duration_s=600, n_events=3, seed=2)
    (tmp_path / "mseed").mkdir()
    st.write(str(tmp_path / "mseed" / "XX.SYN.mseed"), format="MSEED")
    picks = {}
    for name in ("plain", "compact"):
        assert main(["pick", "--no-progress", "--input", str(tmp_path / "mseed"), "--model",
                     f"onnx:{tmp_path / name}", "--backend", "onnx", "--precision", "fp32",
                     "--threshold-P", "0.1", "--threshold-S", "0.1", "--out", str(tmp_path / f"picks_{name}")]) == 0
        picks[name] = read_picks(tmp_path / f"picks_{name}").drop(columns=["model", "model_version"])
    assert len(picks["plain"]) > 0
    assert picks["plain"].equals(picks["compact"])  # the same picks, to the bit
