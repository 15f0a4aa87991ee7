"""Does rebalancing on waveform features matter? Distance-only vs feature-axis rebalancing (issue 17).

Setup (synthetic, small enough for a shared 2-core machine):

- training pool: ``hf`` (many small events: magnitudes 0.5-2, high corner frequencies) and ``lf`` (few
  larger events: magnitudes 2.5-4, low corner frequencies), both in the same 160 km network, so every
  trace is ``local`` or ``regional`` in the same proportions and the distance axis cannot see the imbalance;
- benchmark: ``lf_test``, a separate low-frequency dataset (other seed): the test distribution differs
  from the training pool's in dominant frequency, not in distance.

Arms (same picker, config, seed and number of steps; only the manifest's ``weight`` column differs):

- ``distance``: ``rebalance: {mode: weight, targets: {distance: {local: 0.5, regional: 0.5}}}``;
- ``features``: weight mode with uniform targets over equal-width bins of the P spectral centroid
  (< 4, 4-6, 6-8, >= 8 Hz) and over 4 quantile bins of ``ts_minus_tp``.

Both are scored on ``lf_test`` (dev-tuned thresholds) and compared with ``bench compare`` (paired event
bootstrap). Usage: ``python experiments/feature_rebalancing.py OUT_DIR [--epochs N] [--stage all|data|train|score]
[--arm distance|features]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

SF = [sys.executable, "-m", "seisforge.cli"]


def sh(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(list(args), check=True)


def make_data(out: Path) -> dict[str, Path]:
    from seisforge.data.synthetic import SynthConfig, synthesize

    specs = {"hf": SynthConfig(events=240, noise_traces=40, seed=11, magnitude_range=(0.5, 2.0)),
             "lf": SynthConfig(events=30, noise_traces=10, seed=12, magnitude_range=(2.5, 4.0)),
             "lf_test": SynthConfig(events=80, noise_traces=30, seed=13, magnitude_range=(2.5, 4.0),
                                    fractions=(0.0, 0.4, 0.6))}
    paths = {}
    for name, cfg in specs.items():
        paths[name] = out / "data" / name
        if not (paths[name] / "metadata.csv").is_file():
            synthesize(cfg, paths[name])
    return paths


def make_manifests(out: Path, paths: dict[str, Path], only: tuple[str, ...] = ()) -> dict[str, Path]:
    from seisforge.data.features import FeatureConfig
    from seisforge.data.manifest import ManifestConfig, build_manifest
    from seisforge.data.manifest_io import write_manifest
    from seisforge.data.rebalance import RebalanceConfig

    # uniform coverage of the distance bins present (local and regional; none is dropped)
    arms = {"distance": RebalanceConfig(mode="weight", targets={"distance": {"local": 0.5, "regional": 0.5}}),
            # equal-width spectral bins (equal-count quantile bins of the pool would leave it unchanged)
            "features": RebalanceConfig(mode="weight", edges={"p_spectral_centroid": [4.0, 6.0, 8.0]},
                                        quantiles={"ts_minus_tp": 4},
                                        targets={"p_spectral_centroid": {"<4": 0.25, "[4,6)": 0.25, "[6,8)": 0.25,
                                                                         ">=8": 0.25},
                                                 "ts_minus_tp": {f"q{i}": 0.25 for i in range(1, 5)}})}
    manifests = {}
    sources = [("hf", str(paths["hf"])), ("lf", str(paths["lf"]))]
    for arm, reb in arms.items():
        if only and arm not in only:
            continue
        cfg = ManifestConfig(features=FeatureConfig(enabled=True), rebalance=reb)
        df, report = build_manifest(cfg, sources=sources)
        manifests[arm] = write_manifest(df, report, out / "manifests" / f"{arm}.parquet")["parquet"]
        q = df[df["category"] == "earthquake"]
        share = q.groupby("dataset")["weight"].sum() / q["weight"].sum()
        print(f"{arm}: weighted share of lf traces {share.get('lf', 0):.3f}; targets {report['rebalance'].get('targets')}")
    return manifests


def train(out: Path, arm: str, manifest: Path, epochs: int) -> Path:
    """Train the demo picker on one arm's manifest (same config, seed and steps for every arm)."""
    config = Path(__file__).resolve().parents[1] / "configs/demo_phasenet.yaml"
    run = out / "runs" / f"fr_{arm}"
    if not (run / "best/seisforge.json").is_file():
        sh(*SF, "train", str(config), "--set", f"name=fr_{arm}", "--set", f"run.root={out / 'runs'}",
           "--set", f"data.manifest={manifest}", "--set", f"train.epochs={epochs}", "--set", "train.patience=100")
    return run


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--stage", choices=["all", "data", "train", "score"], default="all",
                    help="run one stage (train one --arm at a time, e.g. two arms in parallel)")
    ap.add_argument("--arm", choices=["distance", "features"])
    args = ap.parse_args()
    out = Path(args.out)
    targets = out / "targets"
    arms = [args.arm] if args.arm else ["distance", "features"]
    paths = {n: out / "data" / n for n in ("hf", "lf", "lf_test")}
    if args.stage in ("all", "data"):
        paths = make_data(out)
        make_manifests(out, paths)
        sh(*SF, "bench", "targets", str(paths["lf_test"]), "--out", str(targets), "--seed", "42")
    if args.stage in ("all", "train"):
        for arm in arms:
            train(out, arm, out / "manifests" / f"{arm}.parquet", args.epochs)
    if args.stage in ("all", "score"):
        for arm in ("distance", "features"):
            pred = out / "pred" / arm
            sh(*SF, "bench", "predict", "--dataset", str(paths["lf_test"]), "--targets", str(targets),
               "--model", f"run:{out / 'runs' / f'fr_{arm}'}", "--out", str(pred))
            sh(*SF, "bench", "score", str(pred))
        sh(*SF, "bench", "compare", str(out / "pred/distance"), str(out / "pred/features"),
           "--out", str(out / "compare"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
