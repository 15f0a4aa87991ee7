"""INT8 artifact size: which parts of the file are weights, and what the format variants cost.

For one picker (any registry spec) and a benchmark dataset with targets, it prints, per variant, the file
bytes, the ratio to the float32 network graph, and the dev metric of ``seisforge compress --method int8``
(mean dev P/S recall, dev-tuned thresholds) against the float graph's:

- ``ort_qdq``: ONNX Runtime ``quantize_static``, QDQ, per-channel int8 weights (the ``--backend
  onnxruntime`` path before this experiment);
- ``ort_qdq_folded``: the same after folding the batch norms behind transposed convolutions;
- ``ort_qdq_folded_floatbias``: the same with float32 biases (``QuantizeBias=False``: the
  ``--backend onnxruntime`` path now);
- ``ort_qoperator_folded``: QOperator format (``QLinearConv`` ...) instead of QDQ;
- ``*_compact``: :func:`seisforge.deploy.runtimes.compact.compact_graph` applied (lossless: short tensor
  names, no node names, no all-zero weight zero points, no default attributes, no ``Relu`` before a
  quantizer that saturates at zero);
- ``nncf_onnx_ac``: NNCF ``quantize_with_accuracy_control`` on the ONNX graph (QDQ), compacted;
- ``openvino_ir``: the NNCF OpenVINO IR (``.xml`` + ``.bin``) of the default path, for comparison.

Example
-------
python experiments/int8_size.py PhaseNetLight --weights /work/shared/models/phasenetlight_ethz/ethz \
    --dataset ncedc/data --targets ncedc/targets
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def _ort(graph: bytes, calib, fmt: str, out: Path, float_bias: bool = False) -> bytes:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"x": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.items, None)

    softmax = [n.name for n in onnx.load_from_string(graph).graph.node if n.op_type == "Softmax"]
    src, dst = out / "f.onnx", out / f"{fmt}.onnx"
    src.write_bytes(graph)
    quantize_static(str(src), str(dst), Reader(), quant_format=getattr(QuantFormat, fmt), per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, nodes_to_exclude=softmax,
                    extra_options={"QuantizeBias": not float_bias})
    return dst.read_bytes()


def main(argv: list[str] | None = None) -> int:
    import onnx

    from seisforge.compress import int8
    from seisforge.deploy.runtimes.artifact import network_graph
    from seisforge.deploy.runtimes.compact import compact_graph
    from seisforge.deploy.runtimes.onnx import cpu_session
    from seisforge.deploy.runtimes.rewrites import fold_batchnorm
    from seisforge.models.registry import load_model

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("spec")
    p.add_argument("--weights")
    p.add_argument("--dataset", required=True)
    p.add_argument("--targets", required=True)
    p.add_argument("--calibration-windows", type=int, default=300)
    p.add_argument("--max-drop", type=float, default=0.01)
    p.add_argument("--skip-nncf", action="store_true")
    args = p.parse_args(argv)
    loaded = load_model(args.spec, weights=args.weights)
    graph = network_graph(loaded)
    dev = int8.dev_set(loaded, args.dataset, args.targets)
    calib = int8.calibration_windows(dev, args.calibration_windows, 0)

    def metric(data: bytes) -> float:
        sess = cpu_session(data, threads=0)
        return int8.dev_metric(int8.run_batched(lambda x: sess.run(["y"], {"x": x})[0], dev.x), dev)

    folded = fold_batchnorm(onnx.load_from_string(graph)).SerializeToString()
    base = metric(graph)
    rows = [("float32 graph", graph)]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        rows.append(("ort_qdq", _ort(graph, calib, "QDQ", out)))
        rows.append(("ort_qdq_folded", _ort(folded, calib, "QDQ", out)))
        rows.append(("ort_qdq_folded_floatbias", _ort(folded, calib, "QDQ", out, float_bias=True)))
        rows.append(("ort_qoperator_folded", _ort(folded, calib, "QOperator", out)))
        rows += [(name + "_compact", compact_graph(data)) for name, data in rows]
        if not args.skip_nncf:
            model, _ = int8.quantize_onnx_nncf(folded, dev, calib, args.max_drop)
            rows.append(("nncf_onnx_ac_compact", compact_graph(model.SerializeToString())))
    print(f"{args.spec} ({args.weights}); dev windows {len(dev)}, calibration {len(calib)}; "
          f"float32 dev metric {base:.4f}; float32 initializers {_init_bytes(graph)} B")
    print(f"{'variant':34s} {'file B':>9s} {'init B':>9s} {'÷ float':>8s} {'dev metric':>10s} {'drop':>7s}")
    for name, data in rows:
        m = base if name.startswith("float32 graph") else metric(data)
        print(f"{name:34s} {len(data):9d} {_init_bytes(data):9d} {len(graph) / len(data):8.2f} {m:10.4f} "
              f"{base - m:+7.4f}")
    sys.stdout.flush()
    return 0


def _init_bytes(data: bytes) -> int:
    """Bytes of the initializers' raw data (the weights, scales and zero points themselves)."""
    import onnx
    from onnx import numpy_helper

    return int(sum(numpy_helper.to_array(t).nbytes for t in onnx.load_from_string(data).graph.initializer))


if __name__ == "__main__":
    sys.exit(main())
