"""The demo pipeline: synthesize -> targets -> predict -> score -> leaderboard, offline."""

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
    try:
        import seisbench

        cache = Path(seisbench.cache_model_root) / "phasenet"
        for js in sorted(cache.glob("*.json*"))[:2]:
            prefix = js.name.split(".json")[0]
            found.append((f"phasenet_{prefix}", "seisbench:PhaseNet", str(cache / prefix)))
    except Exception:  # pragma: no cover - cache layout differs between versions
        pass
    return found


def run_demo(out: str | Path, events: int = 150, noise_traces: int = 60, seed: int = 0,
             n_boot: int = 300, fresh: bool = True, extra_models=None) -> dict:
    """Run the demo into ``out`` and return a summary dict (also written as ``demo_summary.json``).

    Parameters
    ----------
    extra_models
        Optional callable ``(data_dir, work_dir) -> list[(name, pred_dir)]`` adding trained models.
    """
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
    print(f"[1/5] synthesizing {events} events + {noise_traces} noise traces -> {data}")
    synthesize(SynthConfig(events=events, noise_traces=noise_traces, seed=seed), data)
    print("[2/5] generating pick-benchmark targets")
    generate_targets(data, out / "targets", seed=42)
    preds: list[tuple[str, Path]] = []
    print("[3/5] predicting with the baselines and available pickers")
    for name, spec in (("stalta_aic", "stalta:aic"), ("stalta_baer", "stalta:baer")):
        predict(data, out / "targets", spec, out / "pred" / name)
        preds.append((name, out / "pred" / name))
    for name, spec, weights in available_pretrained():
        try:
            predict(data, out / "targets", spec, out / "pred" / name, weights=weights)
            preds.append((name, out / "pred" / name))
        except Exception as err:  # an unusable cached model must not break the demo; it is reported
            report.fail("pretrained_model_failed", f"{name}: {err}")
    if extra_models is not None:
        preds.extend(extra_models(data, out))
    print(f"[4/5] scoring {len(preds)} models (event-level bootstrap, {n_boot} resamples)")
    summary = {}
    for name, d in preds:
        res = score(d, n_boot=n_boot)
        summary[name] = {k: res["metrics"].get(k) for k in ("test_det_auc", "test_phase_mcc", "test_P_recall",
                                                             "test_P_cond_mae_s", "test_S_recall",
                                                             "test_S_cond_mae_s")}
        report.processed += 1
    print("[5/5] leaderboard and figures")
    paths = leaderboard([d for _, d in preds], out / "leaderboard", names=[n for n, _ in preds])
    write_json({"models": summary, "environment": environment(), "outputs": [str(p) for p in paths]},
               out / "demo_summary.json")
    report.notes["models"] = [n for n, _ in preds]
    report.write(out)
    print("\nDemo finished. Results:")
    for p in paths:
        print(f"  {p}")
    print(f"  {out / 'demo_summary.json'}")
    return summary
