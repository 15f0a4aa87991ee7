"""``compact_graph``: an INT8 ONNX file in fewer bytes, with exactly the same outputs."""

from __future__ import annotations

import numpy as np
import pytest


def test_compact_graph_changes_only_the_container(weights, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from seisforge.compress.int8 import compact_graph
    from seisforge.deploy.runtimes.artifact import network_graph
    from seisforge.deploy.runtimes.onnx import cpu_session
    from seisforge.models.registry import load_model

    x = np.random.default_rng(0).standard_normal((8, 3, 3001)).astype(np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"x": x[i:i + 1]} for i in range(len(x))])

        def get_next(self):
            return next(self.items, None)

    (tmp_path / "f.onnx").write_bytes(network_graph(load_model("seisbench:PhaseNetLight", weights=weights)))
    quantize_static(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    proto = onnx.load(str(tmp_path / "q.onnx"))
    onnx.helper.set_model_props(proto, {"seisforge.model_card": '{"kept": true}'})
    plain = proto.SerializeToString()
    small = compact_graph(plain)
    assert len(small) < 0.75 * len(plain)
    want = cpu_session(plain).run(["y"], {"x": x})[0]
    got = cpu_session(small).run(["y"], {"x": x})[0]
    assert np.array_equal(want, got)  # the same computation, bit for bit
    compact = onnx.load_from_string(small)
    assert [i.name for i in compact.graph.input] == ["x"] and [o.name for o in compact.graph.output] == ["y"]
    assert {p.key: p.value for p in compact.metadata_props} == {"seisforge.model_card": '{"kept": true}'}
    assert all(not n.name for n in compact.graph.node)
    names = [t.name for t in compact.graph.initializer]
    assert len(names) == len(set(names)) and max(map(len, names)) <= 3
