"""``seisforge compress SPEC --method int8|fp16 --out DIR``: a compressed picker with its card and report."""

from __future__ import annotations

import argparse

from seisforge.commands import _validate as v
from seisforge.commands.bench_compression import add_report_options


def register(sub) -> None:
    """Add the top-level ``compress`` command."""
    p = sub.add_parser(
        "compress",
        help="compress a picker for deployment (distill, prune, INT8 with accuracy control, float16)",
        description="Compress any model spec into DIR with its model card and compress_report.json. distill: a "
        "smaller student trained on the teacher's outputs (KD loss); prune: structured channel pruning "
        "(torch-pruning) and a recovery distillation; both write a run directory (run:DIR). int8: "
        "post-training static quantization calibrated and accuracy-controlled on dev windows (--dataset, "
        "--targets); the result loads as openvino:DIR (or onnx:DIR with --backend nncf-onnx or onnxruntime). "
        "See docs/compression.md.",
    )
    p.add_argument("spec", help="model spec (grammar: seisforge.models.registry): run:DIR, seisbench:<Class>, onnx:PATH")
    p.add_argument("--weights", help="SeisBench weight pair for seisbench:<Class>")
    p.add_argument("--method", required=True, choices=["distill", "prune", "int8", "fp16"])
    p.add_argument("--backend", default="openvino", choices=["openvino", "nncf-onnx", "onnxruntime"],
                   help="int8: NNCF with accuracy control saved as an OpenVINO IR (default, openvino:DIR) or as "
                        "a compact ONNX QDQ file (nncf-onnx, onnx:DIR: the smaller file), or ONNX Runtime QDQ "
                        "without accuracy control (onnx:DIR)")
    p.add_argument("--dataset", help="SeisBench dataset with dev targets (int8), or to train on (distill, prune)")
    p.add_argument("--targets", help="bench targets folder of --dataset (dev windows only: int8 calibration and "
                   "accuracy control; distill/prune threshold tuning)")
    p.add_argument("--max-drop", type=v.probability, default=0.01,
                   help="largest allowed absolute drop of mean dev P/S pick recall (default 0.01)")
    p.add_argument("--calibration-windows", type=v.positive_int, default=300, help="dev windows for calibration")
    p.add_argument("--seed", type=v.seed, default=0)
    g = p.add_argument_group("distill / prune (training; the result is a run directory, run:DIR)")
    g.add_argument("--student", default="PhaseNetLight", help="distill: student class or run:DIR")
    g.add_argument("--student-width", type=v.positive_float, default=1.0,
                   help="distill: fraction of the student's channels kept in every layer (default 1)")
    g.add_argument("--ratio", type=v.nonneg_float, default=0.5,
                   help="prune: fraction of each layer's channels removed (structured, torch-pruning)")
    g.add_argument("--epochs", type=v.nonneg_int, default=10, help="distill epochs, or prune recovery epochs (0: none)")
    g.add_argument("--kd-alpha", type=v.probability, default=0.7,
                   help="weight of the KD term against the label loss (1: teacher soft targets only, no labels)")
    g.add_argument("--kd-temperature", type=v.positive_float, default=1.0)
    g.add_argument("--thresholds", default="auto", choices=["auto", "teacher", "dev-day", "parent"],
                   help="trigger thresholds of the output's card: teacher = tuned on dev windows (--targets) so "
                   "that its picks agree best with the input model's at its card thresholds; dev-day = the same "
                   "on the continuous --dev-day; parent = the input's; auto (default) = dev-day with --dev-day, "
                   "else teacher with --targets, else parent")
    g.add_argument("--dev-day", nargs="+", metavar="FILE",
                   help="distill/prune: continuous dev station-day files (not the test day); the student is "
                   "selected per epoch on its pick agreement with the input model there (F1 at 0.1 s)")
    g.add_argument("--train-config", help="training config YAML to start from (default: the teacher run's)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="training config override")
    r = p.add_argument_group("trade-off report (OUT/report, with --dataset and --targets; see bench compression)")
    r.add_argument("--no-report", action="store_true", help="skip the report")
    add_report_options(r)
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the model through the registry and compress it."""
    from seisforge.compress.distill import KDSettings
    from seisforge.compress.run import compress
    from seisforge.models.registry import PICKING_KINDS, load_model, parse_spec

    spec = parse_spec(args.spec, kinds=PICKING_KINDS, user="seisforge compress")
    loaded = load_model(str(spec), weights=args.weights)
    notes = compress(loaded, args.method, args.out, dataset=args.dataset, targets=args.targets,
                     backend=args.backend, max_drop=args.max_drop,
                     calibration_windows=args.calibration_windows, seed=args.seed,
                     kd=KDSettings(dataset=args.dataset, epochs=args.epochs, alpha=args.kd_alpha,
                                   temperature=args.kd_temperature, train_config=args.train_config,
                                   overrides=args.set, seed=args.seed, dev_day=args.dev_day or []),
                     student=args.student, student_width=args.student_width, ratio=args.ratio,
                     teacher_weights=args.weights, thresholds=args.thresholds)
    if args.dataset and args.targets and not args.no_report:
        from pathlib import Path

        from seisforge.commands.bench_compression import settings_of
        from seisforge.compress.report import build_report, spec_of_dir

        build_report([loaded, spec_of_dir(args.out)], Path(args.out) / "report",
                     settings_of(args, args.dataset, args.targets))
        print(f"trade-off report: {Path(args.out) / 'report' / 'compression_report.md'}")
    if args.method in ("distill", "prune"):
        print(f"wrote run:{args.out} ({notes['parameters']} parameters, input {notes['parameters_parent']})")
        return 0
    drop = notes.get("dev_drop")
    print(f"wrote {notes['artifact']} ({notes['artifact_bytes'] / 1e3:.1f} kB, float32 graph "
          f"{notes['float32_graph_bytes'] / 1e3:.1f} kB)" + (f"; dev mean P/S recall drop {drop:.4f}" if drop is not None else ""))
    return 0
