"""``seisforge export SPEC --format onnx|openvino --out DIR``: a standalone picker artifact with its card."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    """Add the top-level ``export`` command."""
    p = sub.add_parser(
        "export",
        help="export a picker as a standalone ONNX or OpenVINO artifact with its model card",
        description="Write a picker's network as ONNX (model.onnx) or OpenVINO IR (model.xml/.bin) with its "
        "model card embedded as metadata and beside it (model_card.json). `onnx:DIR` runs it in bench "
        "predict and pick without the torch class. See docs/formats.md.",
    )
    p.add_argument("spec", help="model spec (grammar: seisforge.models.registry), e.g. run:DIR or PhaseNetLight")
    p.add_argument("--weights", help="SeisBench weight pair for seisbench:<Class>")
    p.add_argument("--pretrained", help="SeisBench pretrained name (needs network or cache)")
    p.add_argument("--format", default="onnx", choices=["onnx", "openvino"])
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the model through the registry and write the artifact."""
    from pathlib import Path

    from seisforge.deploy.runtimes.artifact import export_artifact, model_card_of
    from seisforge.models.registry import PICKING_KINDS, load_model, parse_spec

    spec = parse_spec(args.spec, kinds=PICKING_KINDS, user="seisforge export")
    loaded = load_model(str(spec), weights=args.weights, pretrained=args.pretrained)
    card_path = Path(spec.arg) / "model_card.json" if spec.kind == "run" else None
    path = export_artifact(loaded, args.format, args.out, card=model_card_of(loaded, card_path))
    print(f"wrote {path} (model card embedded; load it as onnx:{Path(args.out)})"
          if args.format == "onnx" else f"wrote {path} (model card in rt_info and model_card.json)")
    return 0
