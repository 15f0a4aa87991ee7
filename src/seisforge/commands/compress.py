"""``seisforge compress SPEC --method int8|fp16 --out DIR``: a compressed picker with its card and report."""

from __future__ import annotations

import argparse

from seisforge.commands import _validate as v


def register(sub) -> None:
    """Add the top-level ``compress`` command."""
    p = sub.add_parser(
        "compress",
        help="compress a picker for deployment (INT8 with accuracy control, float16 weights)",
        description="Compress any model spec into DIR with its model card and compress_report.json. int8: "
        "post-training static quantization calibrated and accuracy-controlled on dev windows (--dataset, "
        "--targets); the result loads as openvino:DIR (or onnx:DIR with --backend onnxruntime). "
        "See docs/compression.md.",
    )
    p.add_argument("spec", help="model spec (grammar: seisforge.models.registry): run:DIR, seisbench:<Class>, onnx:PATH")
    p.add_argument("--weights", help="SeisBench weight pair for seisbench:<Class>")
    p.add_argument("--method", required=True, choices=["int8", "fp16"])
    p.add_argument("--backend", default="openvino", choices=["openvino", "onnxruntime"],
                   help="int8: OpenVINO NNCF with accuracy control (default) or ONNX Runtime QDQ")
    p.add_argument("--dataset", help="SeisBench dataset with dev targets (int8)")
    p.add_argument("--targets", help="bench targets folder of --dataset (int8; dev windows only)")
    p.add_argument("--max-drop", type=v.probability, default=0.01,
                   help="largest allowed absolute drop of mean dev P/S pick recall (default 0.01)")
    p.add_argument("--calibration-windows", type=v.positive_int, default=300, help="dev windows for calibration")
    p.add_argument("--seed", type=v.seed, default=0)
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the model through the registry and compress it."""
    from seisforge.compress.run import compress
    from seisforge.models.registry import PICKING_KINDS, load_model, parse_spec

    spec = parse_spec(args.spec, kinds=PICKING_KINDS, user="seisforge compress")
    loaded = load_model(str(spec), weights=args.weights)
    notes = compress(loaded, args.method, args.out, dataset=args.dataset, targets=args.targets,
                     backend=args.backend, max_drop=args.max_drop,
                     calibration_windows=args.calibration_windows, seed=args.seed)
    drop = notes.get("dev_drop")
    print(f"wrote {notes['artifact']} ({notes['artifact_bytes'] / 1e3:.1f} kB, float32 graph "
          f"{notes['float32_graph_bytes'] / 1e3:.1f} kB)" + (f"; dev mean P/S recall drop {drop:.4f}" if drop is not None else ""))
    return 0
