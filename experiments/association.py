"""Picker x associator comparison on a synthetic network with a known catalog (docs/experiments/association.md).

Usage: ``python experiments/association.py [--out runs/association] [--stations 10] [--days 2]``

Steps (each skipped when its output exists, so a killed run resumes):

1. ``seisforge data synth --network`` (10 stations x 2 days, 48 events/day, clock errors 0.05 s,
   dead channels 5 % of station-days);
2. pickers: PhaseNetLight ETHZ (``shared/models/phasenetlight_ethz``), the demo-trained PhaseNetLight
   (``seisforge data synth`` + ``seisforge train configs/demo_phasenet.yaml``, or ``--demo-run DIR``),
   both with ``seisforge pick --sds``; and STA/LTA (see :func:`stalta_picks`: ``pick`` only runs
   SeisBench array pickers, so the classical baseline picks the same SDS days with ObsPy's trigger
   module here); plus the true above-noise arrivals (``oracle``) as an upper bound;
3. ``bench continuous``-style pick scores of each picker against the true arrivals;
4. ``seisforge associate`` with PyOcto and GaMMA on every pick set (timed: picks/s);
5. ``seisforge bench catalog`` for every combination, and ``bench catalog-leaderboard``.

Results: ``OUT/results.json`` and ``OUT/results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import obspy
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SEISFORGE = [sys.executable, "-c", "import sys; from seisforge.cli import main; sys.exit(main())"]
ETHZ = Path(os.environ.get("SEISFORGE_SHARED", ROOT.parent / "shared")) / "models/phasenetlight_ethz/ethz"
COMMANDS: list[str] = []


def sh(*args: str) -> None:
    """Run a seisforge CLI command (logged for the docs)."""
    COMMANDS.append("seisforge " + " ".join(args))
    print("+", COMMANDS[-1], flush=True)
    subprocess.run([*SEISFORGE, *args], check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})


def stalta_picks(sds: Path, stations: list[str], days: list[str], out: Path) -> float:
    """Continuous STA/LTA picks (ObsPy): P from triggers on Z, S from triggers on the larger horizontal
    that start > 1 s after the last Z trigger; onsets refined by AIC in the 2 s before the trigger.
    Band-pass 1-20 Hz, STA 0.5 s, LTA 5 s (the window baseline's settings), on 4.0 / off 1.5.
    Returns the picking seconds."""
    from obspy.clients.filesystem.sds import Client
    from obspy.signal.trigger import aic_simple, recursive_sta_lta, trigger_onset

    from seisforge.testing import write_picks_dir

    t0, rows = time.time(), []
    client = Client(str(sds))
    for sid in stations:
        net, sta = sid.split(".")
        for day in days:
            st = client.get_waveforms(net, sta, "", "HH?", obspy.UTCDateTime(day), obspy.UTCDateTime(day) + 86400)
            st.merge(fill_value=0)
            st.detrend("demean").filter("bandpass", freqmin=1, freqmax=20, zerophase=True)
            fs = st[0].stats.sampling_rate
            trig = {}
            for comp in "ZNE":
                tr = st.select(component=comp)
                if not tr or not np.any(tr[0].data):
                    continue
                ratio = recursive_sta_lta(tr[0].data, int(0.5 * fs), int(5 * fs))
                trig[comp] = (trigger_onset(ratio, 4.0, 1.5), tr[0].data, tr[0].stats.starttime)
            zon = [a for a, _ in trig["Z"][0]] if "Z" in trig else []
            for comp, phase in (("Z", "P"), ("N", "S"), ("E", "S")):
                if comp not in trig:
                    continue
                on, data, start = trig[comp]
                for a, _ in on:
                    if phase == "S" and any(0 <= a - z <= fs for z in zon):
                        continue  # a horizontal trigger with the P: not an S
                    seg = data[max(0, a - int(2 * fs)):a + 1]
                    onset = max(0, a - int(2 * fs)) + (int(np.argmin(aic_simple(seg)[1:-1]) + 1) if len(seg) > 10 else 0)
                    rows.append({"trace_id": f"{sid}.", "phase": phase,
                                 "time": pd.Timestamp((start + onset / fs).ns, tz="UTC"), "prob": 1.0})
    picks = pd.DataFrame(rows)
    picks = picks.sort_values("time").drop_duplicates(["trace_id", "phase", "time"])
    # N and E both trigger on one S: keep the first S of a station within 1 s
    s = picks[picks.phase == "S"]
    keep = s.groupby("trace_id")["time"].diff().dt.total_seconds().fillna(99) > 1.0
    picks = pd.concat([picks[picks.phase == "P"], s[keep]]).sort_values(["trace_id", "time"])
    write_picks_dir(picks, out, model="stalta")
    return time.time() - t0


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


def filtered_picks(src: Path, dst: Path, threshold: float) -> Path:
    """The picks of ``src`` with ``peak_value >= threshold`` as a new picks folder."""
    from seisforge.deploy.store import read_picks
    from seisforge.testing import write_picks_dir

    p = read_picks(src)
    p = p[p["peak_value"] >= threshold]
    return write_picks_dir(p.rename(columns={"peak_time": "time", "peak_value": "prob"}), dst, model="ethz-dev-thr")


def dev_threshold(out: Path, dev_picks: Path, thresholds=(0.1, 0.15, 0.2, 0.3, 0.4, 0.5)) -> dict:
    """Pick threshold of PhaseNetLight ETHZ chosen on the development network: the one whose PyOcto
    catalog has the best F1 over visible events (ties: the higher threshold)."""
    from seisforge.bench.catalog import evaluate_catalog
    from seisforge.deploy.associate.run import run_association

    dev, res = out / "dev_network", {}
    for thr in thresholds:
        d = out / "dev_eval" / f"thr{thr}"
        if not (d / "bench" / "catalog_metrics.json").is_file():
            filtered_picks(dev_picks, d / "picks", thr)
            run_association(d / "picks", dev / "stations.csv", "pyocto", d / "catalog",
                            velocity_model=dev / "velocity_model.yaml", progress=False)
            evaluate_catalog(d / "catalog", dev / "catalog.csv", d / "bench", n_boot=0)
        res[thr] = json.loads((d / "bench" / "catalog_metrics.json").read_text())["metrics"]["f1_visible"]
    best = max(thresholds, key=lambda t: (np.nan_to_num(res[t]), t))
    return {"f1_visible_by_threshold": res, "threshold": best}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "runs/association"))
    ap.add_argument("--stations", type=int, default=10)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--events-per-day", type=float, default=48)
    ap.add_argument("--demo-run", help="an existing demo-trained run directory")
    ap.add_argument("--bootstrap", type=int, default=300)
    ap.add_argument("--train-epochs", type=int, default=40, help="demo training epochs (the demo's: 40)")
    ap.add_argument("--pick-workers", type=int, default=0, help="seisforge pick --workers")
    ap.add_argument("--no-pick", action="store_true", help="use only finished pick sets (no picking)")
    args = ap.parse_args()
    out = Path(args.out)
    net = out / "network"
    if not (net / "catalog.csv").is_file():
        sh("data", "synth", "--network", "--stations", str(args.stations), "--days", str(args.days),
           "--events-per-day", str(args.events_per_day), "--timing-error-s", "0.05", "--dead-channel-prob", "0.05",
           "--seed", "0", "--out", str(net))
    stations = [s.rsplit(".", 1)[0] for s in pd.read_csv(net / "stations.csv")["id"]]
    days = [str((pd.Timestamp("2020-01-01") + pd.Timedelta(days=d)).date()) for d in range(args.days)]
    end = str((pd.Timestamp(days[-1]) + pd.Timedelta(days=1)).date())
    pickers = {"phasenetlight_ethz": ["--model", "seisbench:PhaseNetLight", "--weights", str(ETHZ)],
               "phasenetlight_demo": ["--model", f"run:{args.demo_run or train_demo(out, args.train_epochs)}"]}
    pick_time: dict[str, dict[str, float]] = {}
    for name, model in pickers.items():
        if args.no_pick and not (out / "picks" / name / "run_report.json").is_file():
            continue  # --no-pick: only finished pick sets are associated
        if not (out / "picks" / name / "run_report.json").is_file():
            sh("pick", "--sds", str(net / "sds"), "--stations", ",".join(stations), "--start", days[0], "--end", end,
               *model, "--out", str(out / "picks" / name), "--no-progress", "--workers", str(args.pick_workers))
        pick_time[name] = pick_seconds_per_day(out / "picks" / name)
    if not (out / "picks" / "stalta" / "done.json").is_file():
        secs = stalta_picks(net / "sds", stations, days, out / "picks" / "stalta")
        (out / "picks" / "stalta" / "done.json").write_text(json.dumps({"seconds": secs}))
    secs = json.loads((out / "picks" / "stalta" / "done.json").read_text())["seconds"]
    pick_time["stalta"] = {d: secs / len(days) for d in days}
    if (out / "picks_dev" / "phasenetlight_ethz_t01" / "run_report.json").is_file() and \
            (out / "picks" / "phasenetlight_ethz_t01" / "run_report.json").is_file():
        tuned = dev_threshold(out, out / "picks_dev" / "phasenetlight_ethz_t01")
        COMMANDS.append(f"# dev-chosen ETHZ threshold: {tuned}")
        if not (out / "picks" / "phasenetlight_ethz_devthr" / "picks").is_dir():
            filtered_picks(out / "picks" / "phasenetlight_ethz_t01", out / "picks" / "phasenetlight_ethz_devthr",
                           tuned["threshold"])
    if not (out / "picks" / "oracle" / "picks").is_dir():
        from seisforge.testing import write_picks_dir

        a = pd.read_csv(net / "arrivals.csv")
        write_picks_dir(a[a.above_noise].assign(time=a.recorded_time), out / "picks" / "oracle", model="truth")
    results = {"pick_seconds_per_day": pick_time, "pick_scores": {}, "runs": {}}
    pickers_all = ["oracle", "phasenetlight_ethz", "phasenetlight_ethz_devthr", "phasenetlight_demo", "stalta"]
    if (out / "picks" / "phasenetlight_ethz_devthr" / "picks").is_dir():
        pick_time["phasenetlight_ethz_devthr"] = pick_seconds_per_day(out / "picks" / "phasenetlight_ethz_t01")
        results["ethz_dev_threshold"] = dev_threshold(out, out / "picks_dev" / "phasenetlight_ethz_t01")
    done = {p for p in pickers_all if (out / "picks" / p / "picks").is_dir()}
    done -= {p for p in pickers if not (out / "picks" / p / "run_report.json").is_file()}
    for picker in [p for p in pickers_all if p in done]:
        results["pick_scores"][picker] = pick_scores(out / "picks" / picker, net / "arrivals.csv", out / "arr.csv")
        for method in ("pyocto", "gamma"):
            run, bench = out / "catalogs" / f"{picker}__{method}", out / "bench" / f"{picker}__{method}"
            if not (run / "run_report.json").is_file():
                sh("associate", "--picks", str(out / "picks" / picker), "--stations", str(net / "stations.csv"),
                   "--method", method, "--velocity-model", str(net / "velocity_model.yaml"), "--out", str(run),
                   "--no-progress")
            if not (bench / "catalog_metrics.json").is_file():
                sh("bench", "catalog", "--catalog", str(run), "--reference", str(net / "catalog.csv"),
                   "--stations", str(net / "stations.csv"), "--bootstrap", str(args.bootstrap), "--out", str(bench))
            rep = json.loads((run / "run_report.json").read_text())["notes"]
            rows = pd.read_parquet(bench / "event_rows.parquet")
            cat = pd.read_csv(net / "catalog.csv")
            if "visible3" in cat.columns:  # recall under the looser definition (SNR >= 3), for the docs
                vis3 = set(cat.loc[cat["visible3"], "event_id"])
                sel = rows["ref_id"].isin(vis3)
                rep["recall_visible_snr3"] = float((rows.loc[sel, "found_id"] != "").mean())
            met = json.loads((bench / "catalog_metrics.json").read_text())
            results["runs"][f"{picker}__{method}"] = {"association": rep, "metrics": met["metrics"],
                                                      "ci95": met["ci95"], "n_found": met["n_found"],
                                                      "n_reference": met["n_reference"],
                                                      "n_visible": met["n_reference_visible"]}
    names = list(results["runs"])
    sh("bench", "catalog-leaderboard", *[str(out / "bench" / n) for n in names], "--names", ",".join(names),
       "--bootstrap", str(args.bootstrap), "--out", str(out / "leaderboard"))
    results["commands"] = COMMANDS
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    print(f"-> {out / 'results.json'}, {out / 'leaderboard' / 'catalog_leaderboard.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
