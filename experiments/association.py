"""Picker x associator comparison on a synthetic network with a known catalog (docs/experiments/association.md).

Usage: ``python experiments/association.py [--out runs/association] [--stations 10] [--days 2] [--pick-workers N]``

Steps (each skipped when its output exists, so a killed run resumes; every step is a ``seisforge`` command
except the development-day grid, which calls the same library functions in-process):

1. ``seisforge data synth --network``: the test network (10 stations x 2 days, 48 events/day, clock errors
   0.05 s, dead channels 5 % of station-days, seed 0) and a **development day** (the same options, seed 1:
   another network, another day) on which every threshold and associator setting is chosen;
2. the demo-trained PhaseNetLight: ``seisforge data synth`` + ``seisforge train configs/demo_phasenet.yaml``
   (its 40 epochs), or ``--demo-run DIR``;
3. ``seisforge pick --sds`` with PhaseNetLight ETHZ (``shared/models/phasenetlight_ethz``) at its default
   thresholds and at 0.05/0.05 (the base of the dev-tuned picks), the demo model, and ``--model stalta``;
   plus the true above-noise arrivals (``oracle``, the associators' upper bound);
4. on the development day (:func:`dev_tuning`): the ETHZ P and S thresholds and the PyOcto pick minima with
   the best visible-event F1; applied unchanged to the test network (``phasenetlight_ethz_devtuned``: the
   0.05 picks filtered at those thresholds; ``..._direct``: ``pick`` run at them, a check);
5. pick scores against the true above-noise arrivals (``bench continuous``'s evaluation, 0.5 s);
6. ``seisforge associate`` with PyOcto and GaMMA on every pick set (timed: picks/s);
7. ``seisforge bench catalog`` for every combination, and ``bench catalog-leaderboard``.

Results: ``OUT/results.json``, ``OUT/results.md`` (the tables of the docs).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
SEISFORGE = [sys.executable, "-c", "import sys; from seisforge.cli import main; sys.exit(main())"]
ETHZ = Path(os.environ.get("SEISFORGE_SHARED", ROOT.parent / "shared")) / "models/phasenetlight_ethz/ethz"
NET_OPTS = ["--stations", "10", "--events-per-day", "48", "--timing-error-s", "0.05", "--dead-channel-prob", "0.05"]
PICKERS = ["oracle", "phasenetlight_ethz", "phasenetlight_ethz_devtuned", "phasenetlight_demo", "stalta"]
#: development-day grid: ETHZ pick thresholds and PyOcto pick minima (the rest stays at docs/catalog.md's defaults)
GRID_P = (0.1, 0.2, 0.3, 0.45)
GRID_S = (0.05, 0.1, 0.2, 0.3, 0.45)
GRID_PYOCTO = ({"n_s_picks": 3}, {"n_s_picks": 2}, {"n_s_picks": 0}, {"n_s_picks": 0, "n_p_and_s_picks": 1})
COMMANDS: list[str] = []


def sh(*args: str) -> None:
    """Run a seisforge CLI command (logged for the docs)."""
    COMMANDS.append("seisforge " + " ".join(args))
    print("+", COMMANDS[-1], flush=True)
    subprocess.run([*SEISFORGE, *args], check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})


def pick(net: Path, days: list[str], model: list[str], out: Path, workers: int) -> None:
    """``seisforge pick --sds`` over every station of ``net`` and ``days`` (skipped when done)."""
    if (out / "run_report.json").is_file():
        return
    stations = [s.rsplit(".", 1)[0] for s in pd.read_csv(net / "stations.csv")["id"]]
    end = str((pd.Timestamp(days[-1]) + pd.Timedelta(days=1)).date())
    sh("pick", "--sds", str(net / "sds"), "--stations", ",".join(stations), "--start", days[0], "--end", end,
       *model, "--out", str(out), "--no-progress", "--workers", str(workers))


def pick_seconds_per_day(picks_dir: Path) -> dict[str, float]:
    """Picking seconds per UTC day, summed over station-days (from ``pick``'s unit states)."""
    out: dict[str, float] = {}
    for p in (picks_dir / "state").glob("*.json"):
        st = json.loads(p.read_text())
        out[st["day"]] = out.get(st["day"], 0.0) + st["elapsed_s"]
    return out


def train_demo(out: Path, epochs: int) -> Path:
    """The demo-trained PhaseNetLight (configs/demo_phasenet.yaml on a fresh ``data synth`` set)."""
    runs = out / "demo_train"
    found = sorted(runs.glob("runs/demo_phasenet*/best"))
    if found:
        return found[-1].parent
    if not (runs / "data" / "metadata.csv").is_file():
        sh("data", "synth", "--out", str(runs / "data"), "--events", "400", "--noise-traces", "120")
    sh("train", str(ROOT / "configs/demo_phasenet.yaml"), "--set", f"data.path={runs / 'data'}",
       "--set", f"run.root={runs / 'runs'}", "--set", f"train.epochs={epochs}")
    return sorted(runs.glob("runs/demo_phasenet*/best"))[-1].parent


def pick_scores(picks_dir: Path, arrivals: Path, tmp: Path) -> dict:
    """P and S pick precision/recall against the recorded above-noise arrivals (0.5 s)."""
    from seisforge.bench.picking.continuous import evaluate

    a = pd.read_csv(arrivals)
    a = a[a.above_noise].assign(time=a.recorded_time)[["trace_id", "phase", "time", "event_id"]]
    a.to_csv(tmp, index=False)
    res = evaluate(str(picks_dir), str(tmp), 0.5, n_boot=0)
    return {r["phase"]: {k: r[k] for k in ("precision", "recall", "f1")} for r in
            res["per_phase"].to_dict(orient="records")}


def recall_by_snr(picks_dir: Path, arrivals: Path, thresholds=(0.05, 0.1, 0.2, 0.3, 0.45)) -> dict:
    """Share of the above-noise arrivals with a same-phase pick within 0.5 s whose ``peak_value`` reaches each
    threshold, per phase and SNR bin (from a low-threshold pick set: which threshold would find them)."""
    from seisforge.deploy.store import read_picks

    a = pd.read_csv(arrivals, parse_dates=["recorded_time"])
    a = a[a["above_noise"]]
    p = read_picks(picks_dir)
    best = []
    for r in a.itertuples():
        q = p[(p.trace_id == r.trace_id) & (p.phase == r.phase)
              & ((p.peak_time - r.recorded_time).abs().dt.total_seconds() <= 0.5)]
        best.append(float(q["peak_value"].max()) if len(q) else 0.0)
    a = a.assign(best=best, snr_bin=pd.cut(a["snr"], [6, 10, 20, 50, np.inf], right=False).astype(str))
    out: dict = {}
    for (phase, b), g in a.groupby(["phase", "snr_bin"]):
        out.setdefault(phase, {})[b] = {"n": len(g)} | {f"{t}": float((g["best"] >= t).mean()) for t in thresholds}
    for phase, g in a.groupby("phase"):
        out[phase]["all"] = {"n": len(g)} | {f"{t}": float((g["best"] >= t).mean()) for t in thresholds}
    return out


def filtered_picks(src: Path, dst: Path, thresholds: dict[str, float]) -> Path:
    """The picks of ``src`` whose ``peak_value`` reaches their phase's threshold, as a new picks folder."""
    from seisforge.deploy.store import read_picks
    from seisforge.testing import write_picks_dir

    p = read_picks(src)
    p = p[p["peak_value"] >= p["phase"].map(thresholds)]
    write_picks_dir(p.rename(columns={"peak_time": "time", "peak_value": "prob"}), dst, model="ethz-devtuned")
    return dst


def _catalog_scores(catalog: Path, reference: Path) -> dict:
    """Event scores of ``catalog`` against ``reference`` (``bench catalog``'s matching, no bootstrap, no figures)."""
    from seisforge.bench.catalog import event_rows, match_events, scores
    from seisforge.data.catalog_io import read_events

    found, fp = read_events(catalog)
    ref, rp = read_events(reference)
    return scores(event_rows(ref, found, match_events(ref, found, 3.0, 15.0), rp, fp, 0.5))


def dev_tuning(out: Path, dev_picks: Path) -> dict:
    """ETHZ thresholds, then PyOcto pick minima, chosen on the development day by visible-event F1.

    Coordinate search: all (P, S) threshold pairs of :data:`GRID_P` x :data:`GRID_S` with the default
    minima, then the minima of :data:`GRID_PYOCTO` at the best pair. Ties go to the higher thresholds and
    the earlier (stricter) minima."""
    from seisforge.deploy.associate.run import run_association

    dev, path = out / "dev_day", out / "dev_tuning.json"
    res = json.loads(path.read_text()) if path.is_file() else {}

    def trial(tp: float, ts: float, k: int) -> float:
        key = f"P{tp}_S{ts}_cfg{k}"
        if key not in res:
            d = out / "dev_eval" / key
            filtered_picks(dev_picks, d / "picks", {"P": tp, "S": ts})
            (d / "assoc.yaml").write_text(yaml.safe_dump({"pyocto": GRID_PYOCTO[k]}))
            run_association(d / "picks", dev / "stations.csv", "pyocto", d / "catalog", progress=False,
                            velocity_model=dev / "velocity_model.yaml", config=d / "assoc.yaml")
            res[key] = {k2: float(v) for k2, v in _catalog_scores(d / "catalog", dev / "catalog.csv").items()
                        if k2 in ("precision", "recall_visible", "f1_visible", "n_found")}
            path.write_text(json.dumps(res, indent=1))
        return float(np.nan_to_num(res[key]["f1_visible"]))

    tp, ts = max(itertools.product(GRID_P, GRID_S), key=lambda t: (trial(*t, 0), t))
    k = max(range(len(GRID_PYOCTO)), key=lambda i: (trial(tp, ts, i), -i))
    return {"thresholds": {"P": tp, "S": ts}, "pyocto": GRID_PYOCTO[k], "trials": res,
            "f1_visible_dev": res[f"P{tp}_S{ts}_cfg{k}"]["f1_visible"]}


def make_pick_sets(args, out: Path, net: Path, days: list[str]) -> dict[str, dict[str, float]]:
    """Every picker's picks on the test network (and the dev-tuned ones); returns picking s/day."""
    from seisforge.testing import write_picks_dir

    demo = args.demo_run or train_demo(out, args.train_epochs)
    models = {"phasenetlight_ethz": ["--model", "seisbench:PhaseNetLight", "--weights", str(ETHZ)],
              "phasenetlight_ethz_t005": ["--model", "seisbench:PhaseNetLight", "--weights", str(ETHZ),
                                          "--threshold-P", "0.05", "--threshold-S", "0.05"],
              "phasenetlight_demo": ["--model", f"run:{demo}"], "stalta": ["--model", "stalta"]}
    for name, model in models.items():
        pick(net, days, model, out / "picks" / name, args.pick_workers)
    pick(out / "dev_day", ["2020-01-01"], models["phasenetlight_ethz_t005"],
         out / "picks_dev" / "phasenetlight_ethz_t005", args.pick_workers)
    tuned = dev_tuning(out, out / "picks_dev" / "phasenetlight_ethz_t005")
    # PyOcto's minima come from the grid; GaMMA keeps its defaults (the grid ran PyOcto only)
    (out / "assoc_devtuned.yaml").write_text(yaml.safe_dump({"pyocto": tuned["pyocto"]}))
    thr = tuned["thresholds"]  # the same thresholds as a direct pick run (what a user would run), a check
    pick(net, days, [*models["phasenetlight_ethz"], "--threshold-P", str(thr["P"]), "--threshold-S", str(thr["S"])],
         out / "picks" / "phasenetlight_ethz_devtuned_direct", args.pick_workers)
    if not (out / "picks" / "phasenetlight_ethz_devtuned" / "picks").is_dir():
        filtered_picks(out / "picks" / "phasenetlight_ethz_t005", out / "picks" / "phasenetlight_ethz_devtuned",
                       tuned["thresholds"])
    if not (out / "picks" / "oracle" / "picks").is_dir():
        a = pd.read_csv(net / "arrivals.csv")
        write_picks_dir(a[a.above_noise].assign(time=a.recorded_time), out / "picks" / "oracle", model="truth")
    times = {n: pick_seconds_per_day(out / "picks" / n) for n in models}
    times["phasenetlight_ethz_devtuned"] = times.pop("phasenetlight_ethz_t005")
    return times | {"dev_tuning": tuned}


def associate_and_score(out: Path, net: Path, picker: str, method: str, n_boot: int, tuned: bool | None = None,
                        tag: str = "") -> dict:
    """``associate`` + ``bench catalog`` for one combination; returns its results entry. ``tuned``: with the
    dev-chosen associator config (default: for the dev-tuned picks only); ``tag`` names an ablation."""
    run, bench = out / "catalogs" / f"{picker}__{method}{tag}", out / "bench" / f"{picker}__{method}{tag}"
    tuned = picker.endswith("_devtuned") if tuned is None else tuned
    config = ["--config", str(out / "assoc_devtuned.yaml")] if tuned else []
    if not (run / "run_report.json").is_file():
        sh("associate", "--picks", str(out / "picks" / picker), "--stations", str(net / "stations.csv"),
           "--method", method, "--velocity-model", str(net / "velocity_model.yaml"), *config, "--out", str(run),
           "--no-progress")
    if not (bench / "catalog_metrics.json").is_file():
        sh("bench", "catalog", "--catalog", str(run), "--reference", str(net / "catalog.csv"),
           "--stations", str(net / "stations.csv"), "--bootstrap", str(n_boot), "--out", str(bench))
    rep = json.loads((run / "run_report.json").read_text())["notes"]
    rows = pd.read_parquet(bench / "event_rows.parquet")
    arr = pd.read_csv(net / "arrivals.csv")  # recall under a looser visibility (4 stations at SNR >= 3), docs only
    n3 = arr[arr["snr"] >= 3].groupby("event_id")["trace_id"].nunique()
    rep["recall_visible_snr3"] = float((rows.loc[rows["ref_id"].isin(set(n3[n3 >= 4].index)), "found_id"]
                                        != "").mean())
    met = json.loads((bench / "catalog_metrics.json").read_text())
    return {"association": rep, "metrics": met["metrics"], "ci95": met["ci95"], "n_found": met["n_found"],
            "n_reference": met["n_reference"], "n_visible": met["n_reference_visible"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "runs/association"))
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--demo-run", help="an existing demo-trained run directory")
    ap.add_argument("--bootstrap", type=int, default=300)
    ap.add_argument("--train-epochs", type=int, default=40, help="demo training epochs (the demo's: 40)")
    ap.add_argument("--pick-workers", type=int, default=0, help="seisforge pick --workers")
    args = ap.parse_args()
    out = Path(args.out)
    net = out / "network"
    if not (net / "catalog.csv").is_file():
        sh("data", "synth", "--network", *NET_OPTS, "--days", str(args.days), "--seed", "0", "--out", str(net))
    if not (out / "dev_day" / "catalog.csv").is_file():
        sh("data", "synth", "--network", *NET_OPTS, "--days", "1", "--seed", "1", "--out", str(out / "dev_day"))
    days = [str((pd.Timestamp("2020-01-01") + pd.Timedelta(days=d)).date()) for d in range(args.days)]
    times = make_pick_sets(args, out, net, days)
    results = {"dev_tuning": times.pop("dev_tuning"), "pick_seconds_per_day": times, "pick_scores": {}, "runs": {},
               "ethz_recall_by_snr": {  # the diagnosis of docs/experiments/association.md
                   "dev_day": recall_by_snr(out / "picks_dev" / "phasenetlight_ethz_t005", out / "dev_day/arrivals.csv"),
                   "test": recall_by_snr(out / "picks" / "phasenetlight_ethz_t005", net / "arrivals.csv")}}
    for picker in PICKERS:
        results["pick_scores"][picker] = pick_scores(out / "picks" / picker, net / "arrivals.csv", out / "arr.csv")
        for method in ("pyocto", "gamma"):
            results["runs"][f"{picker}__{method}"] = associate_and_score(out, net, picker, method, args.bootstrap)
    # ablations (PyOcto): the dev-chosen thresholds alone, and the dev-chosen minima alone
    results["ablations"] = {
        "phasenetlight_ethz_devtuned__pyocto__default_minima": associate_and_score(
            out, net, "phasenetlight_ethz_devtuned", "pyocto", args.bootstrap, tuned=False, tag="__default_minima"),
        "phasenetlight_ethz__pyocto__devtuned_minima": associate_and_score(
            out, net, "phasenetlight_ethz", "pyocto", args.bootstrap, tuned=True, tag="__devtuned_minima"),
        "phasenetlight_ethz_devtuned_direct__pyocto": associate_and_score(
            out, net, "phasenetlight_ethz_devtuned_direct", "pyocto", args.bootstrap, tuned=True)}
    names = list(results["runs"])
    sh("bench", "catalog-leaderboard", *[str(out / "bench" / n) for n in names], "--names", ",".join(names),
       "--bootstrap", str(args.bootstrap), "--out", str(out / "leaderboard"))
    results["commands"] = COMMANDS
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    (out / "results.md").write_text(results_markdown(results))
    print(f"-> {out / 'results.json'}, {out / 'results.md'}, {out / 'leaderboard' / 'catalog_leaderboard.md'}")
    return 0


def _ci(res: dict, key: str, fmt: str = "{:.2f}") -> str:
    v, ci = res["metrics"].get(key), res["ci95"].get(key)
    if v is None or v != v:
        return "n/a"
    return fmt.format(v) + (f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]" if ci and ci[0] == ci[0] else "")


def results_markdown(results: dict) -> str:
    """The two tables of docs/experiments/association.md from ``results``."""
    head = ("| picker | associator | events found | precision | recall (all) | recall (visible) | recall (SNR>=3) "
            "| F1 (visible) | origin-time MAE (s) | epicentral MAE (km) | depth MAE (km) | pick-assignment P / R "
            "| association s/day | picks/s |\n|" + "---|" * 14)
    lines = [head]
    for name, r in (results["runs"] | results.get("ablations", {})).items():
        picker, method = name.split("__")[0], "__".join(name.split("__")[1:])
        a, m = r["association"], r["metrics"]
        secs = a.get("association_seconds", float("nan"))
        lines.append(f"| {picker} | {method} | {r['n_found']} | {_ci(r, 'precision')} | {_ci(r, 'recall')} | "
                     f"{_ci(r, 'recall_visible')} | {a.get('recall_visible_snr3', float('nan')):.2f} | "
                     f"{_ci(r, 'f1_visible')} | {_ci(r, 'origin_time_s_mae')} | "
                     f"{_ci(r, 'epicentral_km_mae')} | {_ci(r, 'depth_km_mae')} | "
                     f"{m.get('pick_precision', float('nan')):.2f} / {m.get('pick_recall', float('nan')):.2f} | "
                     f"{secs / 2:.1f} | {a.get('picks_per_second', float('nan')):.1f} |")
    lines += ["", "| picker | P precision / recall / F1 | S precision / recall / F1 | picking s/day |", "|---|---|---|---|"]
    for picker, s in results["pick_scores"].items():
        t = results["pick_seconds_per_day"].get(picker, {})
        cells = [" / ".join(f"{s.get(ph, {}).get(k, float('nan')):.2f}" for k in ("precision", "recall", "f1"))
                 for ph in ("P", "S")]
        lines.append(f"| {picker} | {cells[0]} | {cells[1]} | "
                     f"{', '.join(f'{d}: {v:.0f}' for d, v in sorted(t.items())) or 'n/a'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
