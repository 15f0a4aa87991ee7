"""The demo pipeline: synthesize -> targets -> predict -> score -> leaderboard -> HTML report, offline."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from seisforge.runinfo import RunReport, environment, seed_everything, write_json

log = logging.getLogger(__name__)


def available_pretrained() -> list[tuple[str, str, str]]:
    """Pickers whose weights are on this machine: ``(name, spec, weights_prefix)``.

    Looks in ``$SEISFORGE_SHARED/models`` (PhaseNetLight ETHZ) and in the SeisBench cache; never downloads.
    """
    found = []
    from seisforge.paths import shared_dir

    shared = shared_dir()
    if shared is not None and (shared / "models/phasenetlight_ethz/ethz.json.v2").is_file():
        found.append(("phasenetlight_ethz", "seisbench:PhaseNetLight", str(shared / "models/phasenetlight_ethz/ethz")))
    import seisbench

    root = getattr(seisbench, "cache_model_root", None)
    if root is None:
        log.info("SeisBench exposes no model cache root; only shared weights are used")
        return found
    cache = Path(root) / "phasenet"
    for js in sorted(cache.glob("*.json*"))[:2]:
        prefix = js.name.split(".json")[0]
        found.append((f"phasenet_{prefix}", "seisbench:PhaseNet", str(cache / prefix)))
    return found


HEADLINE = {  # metric: higher is better
    "test_det_auc": True, "test_phase_mcc": True, "test_P_recall": True, "test_S_recall": True,
    "test_P_cond_mae_s": False, "test_S_cond_mae_s": False,
}


def train_demo_model(data: Path, out: Path, config: str | Path | None = None, overrides: list[str] | None = None):
    """Train the demo PhaseNetLight on ``data``; returns the run directory."""
    from seisforge.config import load_config
    from seisforge.train.config import TrainConfig
    from seisforge.train.loop import train

    config = config or Path(__file__).resolve().parents[2] / "configs/demo_phasenet.yaml"
    sets = [f"data.path={data}", f"run.root={out}"] + list(overrides or [])
    if Path(config).is_file():
        cfg = load_config(TrainConfig, config, sets)
    else:  # installed without the repository's configs/: the same settings, inline
        cfg = load_config(TrainConfig, None, DEMO_SETTINGS + sets)
    return train(cfg, overrides=sets)


DEMO_SETTINGS = [
    "name=demo_phasenet", "seed=0", "deterministic=true", "model.cls=PhaseNetLight", "labels.sigma=20",
    "augment.pick_window_prob=0.95", "augment.amplitude_jitter_prob=0.3", "augment.polarity_flip_prob=0.5",
    "augment.noise_prob=0.3", "augment.noise_scale=[0.0, 0.3]", "optim.lr=0.01", "optim.warmup_steps=20",
    "train.epochs=40", "train.batch_size=32", "train.patience=10",
]


def wins(trained: dict, baseline: dict) -> dict[str, bool]:
    """Per headline metric: is ``trained`` better than ``baseline`` (NaN counts as not better)?"""
    out = {}
    for k, higher in HEADLINE.items():
        a, b = trained.get(k), baseline.get(k)
        out[k] = a is not None and b is not None and a == a and b == b and (a > b if higher else a < b)
    return out


def network_demo(out: Path, run_dir: Path, seed: int, report: RunReport) -> dict:
    """The demo's last step: a 5-station (50 km), 3-hour synthetic network picked with the demo-trained model,
    associated with PyOcto and scored against its true catalog (map in ``out/bench/map.png``)."""
    from seisforge.bench.catalog import evaluate_catalog
    from seisforge.cli import main as cli
    from seisforge.data.network import NetworkConfig, synthesize_network
    from seisforge.deploy.associate.run import run_association

    print("[network] 5 stations x 3 h (50 km) -> pick (demo model) -> associate (PyOcto) -> bench catalog")
    try:
        import pyocto  # noqa: F401 - installed by `make` (see docs/catalog.md)
    except ImportError:
        report.fail("network_step_skipped", "pyocto is not installed")
        return {}
    rep = synthesize_network(NetworkConfig(stations=5, hours=3.0, events_per_day=200, area_km=50.0, seed=seed),
                             out / "data", progress=False)
    if cli(["pick", "--sds", str(out / "data/sds"), "--stations", rep.notes["stations"], "--start", "2020-01-01",
            "--end", "2020-01-02", "--model", f"run:{run_dir}", "--out", str(out / "picks"), "--no-progress"]):
        report.fail("network_pick_failed", str(out / "picks"))
    run_association(out / "picks", out / "data/stations.csv", "pyocto", out / "catalog",
                    velocity_model=out / "data/velocity_model.yaml", progress=False)
    res = evaluate_catalog(out / "catalog", out / "data/catalog.csv", out / "bench", n_boot=100,
                           stations=out / "data/stations.csv")
    m = res["metrics"]
    print(f"[network] {res['n_found']} events found, {res['n_reference']} true ({res['n_reference_visible']} "
          f"visible): precision {m['precision']:.2f}, recall (visible) {m['recall_visible']:.2f}, "
          f"epicentral MAE {m['epicentral_km_mae']:.1f} km -> {out / 'bench' / 'map.png'}")
    return {k: m[k] for k in ("precision", "recall", "recall_visible", "epicentral_km_mae")} | {
        "map": str(out / "bench" / "map.png")}


def run_demo(out: str | Path, events: int = 400, noise_traces: int = 120, seed: int = 0,
             n_boot: int = 300, fresh: bool = True, train_model: bool = True,
             train_overrides: list[str] | None = None) -> dict:
    """Run the demo into ``out`` and return a summary dict (also written as ``demo_summary.json``)."""
    from seisforge.bench.picking.predict import predict
    from seisforge.bench.picking.score import score
    from seisforge.bench.picking.targets import generate_targets
    from seisforge.bench.report import leaderboard
    from seisforge.data.synthetic import SynthConfig, synthesize

    out = Path(out)
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    report = RunReport("demo")
    data = out / "data"
    print(f"[1/6] synthesizing {events} events + {noise_traces} noise traces -> {data}")
    synthesize(SynthConfig(events=events, noise_traces=noise_traces, seed=seed), data)
    print("[2/6] generating pick-benchmark targets (dev + test)")
    generate_targets(data, out / "targets", seed=42)
    preds: list[tuple[str, Path]] = []
    run_dir = None
    if train_model:
        print("[3/6] training PhaseNetLight from scratch on the train split (dev for model selection)")
        run_dir = train_demo_model(data, out / "runs", overrides=train_overrides)
        predict(data, out / "targets", f"run:{run_dir}", out / "pred" / "phasenetlight_trained")
        preds.append(("phasenetlight_trained", out / "pred" / "phasenetlight_trained"))
    print("[4/6] predicting with the baselines and available pretrained pickers")
    for name, spec in (("stalta_aic", "stalta:aic"), ("stalta_baer", "stalta:baer")):
        predict(data, out / "targets", spec, out / "pred" / name)
        preds.append((name, out / "pred" / name))
    for name, spec, weights in available_pretrained():
        try:
            predict(data, out / "targets", spec, out / "pred" / name, weights=weights)
            preds.append((name, out / "pred" / name))
        except Exception as err:  # an unusable cached model must not break the demo; it is reported
            report.fail("pretrained_model_failed", f"{name}: {err}")
    print(f"[5/6] scoring {len(preds)} models (event-level bootstrap, {n_boot} resamples)")
    summary = {}
    for name, d in preds:
        res = score(d, n_boot=n_boot)
        summary[name] = {k: res["metrics"].get(k) for k in HEADLINE}
        report.processed += 1
    print("[6/6] leaderboard and figures")
    paths = leaderboard([d for _, d in preds], out / "leaderboard", names=[n for n, _ in preds])
    verdict = None
    if "phasenetlight_trained" in summary:
        verdict = wins(summary["phasenetlight_trained"], summary["stalta_aic"])
    write_json({"models": summary, "trained_beats_stalta": verdict, "environment": environment(),
                "outputs": [str(p) for p in paths]}, out / "demo_summary.json")
    report.notes["models"] = [n for n, _ in preds]
    if run_dir is not None:
        report.notes["network"] = network_demo(out / "network", run_dir, seed, report)
    report.write(out)
    print("\nTest-split headline metrics (thresholds tuned on dev):")
    keys = list(HEADLINE)
    print(f"  {'model':24s}" + "".join(f"{k.replace('test_', ''):>14s}" for k in keys))
    for name, m in summary.items():
        print(f"  {name:24s}" + "".join(f"{(m[k] if m[k] is not None else float('nan')):14.3f}" for k in keys))
    if verdict is not None:
        print(f"trained PhaseNetLight beats STA/LTA on {sum(verdict.values())}/{len(verdict)} headline metrics")
    print("\nDemo finished. Results:")
    for p in paths:
        print(f"  {p}")
    print(f"  {out / 'demo_summary.json'}")
    index = demo_report(out)
    print(f"\nReport (open in a browser, works offline): {index}")
    return summary


def demo_report(out: Path) -> Path:
    """The HTML report over the demo's outputs: ``out/report/index.html``."""
    from seisforge.report import build_report

    print("[report] writing the HTML report (leaderboard, figures, waveform gallery, training curves)")
    # 100 paired-comparison resamples keep this step short; the caption states the number
    return build_report([out], out / "report", title="seisforge demo report", options={"compare_bootstrap": 100})
