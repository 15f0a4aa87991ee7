"""``seisforge bench calibrate``: fit a post-hoc calibration on dev predictions into a model card."""

from __future__ import annotations

import argparse

EXTENDS = "bench"


def register_verbs(verbs) -> None:
    """Add the ``calibrate`` verb to the ``bench`` group."""
    p = verbs.add_parser(
        "calibrate",
        help="fit a probability calibration on the dev predictions and store it in the model card",
        description="Fits, per phase and for detection, a monotone map of the peak probabilities on the "
        "DEV predictions of PRED_DIR (temperature scaling of the one-vs-rest logit, or isotonic "
        "regression) and writes it into the model card; `bench predict --calibrated` and "
        "`seisforge pick --calibrated` apply it. See docs/metrics.md.",
    )
    p.add_argument("pred_dir", help="uncalibrated `bench predict` output (its dev_task*.csv are used)")
    p.add_argument("--out", metavar="CARD_OR_DIR",
                   help="model card file or folder (a run folder gets model_card.json); default: the "
                   "run folder of a run: model")
    p.add_argument("--method", choices=["temperature", "isotonic"], default="temperature")
    p.add_argument("--weights", help="weight pair of the predicted model, to make a card when none exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``bench calibrate``."""
    from seisforge.bench.picking.calibration import default_card_path, fit_calibration, store_calibration
    from seisforge.errors import ConfigError

    cal = fit_calibration(args.pred_dir, method=args.method)
    if not cal["maps"]:
        from seisforge.errors import DataError

        raise DataError("nothing to calibrate: " + "; ".join(f"{k}: {v}" for k, v in cal["not_fitted"].items()))
    out = args.out or default_card_path(cal.get("model") if str(cal.get("model", "")).startswith("run:") else None)
    if out is None:
        raise ConfigError("--out CARD_OR_DIR is needed for models that are not run: folders")
    path = store_calibration(cal, out, weights=args.weights)
    for target, d in cal["dev"].items():
        print(f"{target:9s} dev n={d['n']:5d}  ECE {d['ece_before']:.4f} -> {d['ece_after']:.4f}  "
              f"Brier {d['brier_before']:.4f} -> {d['brier_after']:.4f}  {cal['maps'][target]}")
    for target, why in cal["not_fitted"].items():
        print(f"{target:9s} not fitted: {why}")
    print(f"-> {path}")
    return 0
