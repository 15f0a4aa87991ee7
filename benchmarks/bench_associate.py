"""Association vs picking time for one day of a network, and the associators' throughput (picks/s).

The target of issue 15: associating a day of picks takes less time than picking that day. Both are
timed here back to back, on the same machine state, through the same code as the CLI:

1. ``seisforge pick --sds`` of every station of the network for one UTC day (in this process, one
   station-day after another; ``--workers`` for Ray);
2. ``seisforge associate`` of exactly those picks with each associator (chunks in this process).

Examples
--------
python benchmarks/bench_associate.py --network runs/association/network            # PhaseNetLight ETHZ
python benchmarks/bench_associate.py --network runs/association/network --model stalta
python benchmarks/bench_associate.py --stations 4 --hours 6                        # builds a small network

Without ``--network`` a network is synthesised first (``data synth --network``; not timed).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def _network(args, tmp: Path) -> Path:
    from seisforge.data.network import NetworkConfig, synthesize_network

    if args.network:
        return Path(args.network)
    net = tmp / "network"
    synthesize_network(NetworkConfig(stations=args.stations, hours=args.hours, seed=0, timing_error_s=0.05),
                       net, progress=False)
    return net


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from seisforge.cli import main as cli
    from seisforge.deploy.associate.run import run_association
    from seisforge.deploy.store import read_picks
    from seisforge.paths import shared_dir
    from seisforge.runinfo import cpu_flags, environment

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", help="a `data synth --network` folder (default: synthesise one)")
    p.add_argument("--stations", type=int, default=10, help="stations of a synthesised network")
    p.add_argument("--hours", type=float, default=24.0, help="hours of a synthesised network")
    p.add_argument("--day", default="2020-01-01", help="UTC day to pick and associate")
    p.add_argument("--model", default="seisbench:PhaseNetLight", help="pick --model spec")
    p.add_argument("--weights", help="default for PhaseNetLight: ../shared/models/phasenetlight_ethz/ethz")
    p.add_argument("--methods", default="pyocto,gamma")
    p.add_argument("--workers", type=int, default=0, help="pick --workers (0: this process)")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args(argv)
    weights = args.weights
    if weights is None and args.model.endswith("PhaseNetLight") and shared_dir() is not None:
        weights = str(shared_dir() / "models" / "phasenetlight_ethz" / "ethz")
    with tempfile.TemporaryDirectory() as tmp:
        net = _network(args, Path(tmp))
        stations = [s.rsplit(".", 1)[0] for s in pd.read_csv(net / "stations.csv")["id"]]
        end = str((pd.Timestamp(args.day) + pd.Timedelta(days=1)).date())
        picks = Path(tmp) / "picks"
        t = time.perf_counter()
        code = cli(["pick", "--sds", str(net / "sds"), "--stations", ",".join(stations), "--start", args.day,
                    "--end", end, "--model", args.model, *(["--weights", weights] if weights else []),
                    "--workers", str(args.workers), "--out", str(picks), "--no-progress"])
        pick_s = time.perf_counter() - t
        if code:
            raise SystemExit(f"bench_associate: seisforge pick failed (exit {code})")
        n_picks = len(read_picks(picks))
        res = {"model": args.model, "weights": weights, "day": args.day, "stations": len(stations),
               "n_picks": n_picks, "pick_wall_s": round(pick_s, 2), "associate": {}}
        for method in args.methods.split(","):
            t = time.perf_counter()
            rep = run_association(picks, net / "stations.csv", method, Path(tmp) / f"cat_{method}",
                                  velocity_model=net / "velocity_model.yaml", progress=False)
            res["associate"][method] = {"wall_s": round(time.perf_counter() - t, 2),
                                        "association_s": rep.notes["association_seconds"],
                                        "picks_per_second": rep.notes["picks_per_second"],
                                        "events": rep.notes["n_events"]}
    res |= {"cpu_flags": cpu_flags(), "environment": environment()}
    print(f"picking {args.day}, {len(stations)} stations ({args.model}): {pick_s:.1f} s wall, {n_picks} picks")
    for m, r in res["associate"].items():
        print(f"associate ({m}): {r['wall_s']:.1f} s wall ({r['association_s']:.1f} s in the associator, "
              f"{r['picks_per_second']} picks/s, {r['events']} events); picking / association = "
              f"{pick_s / r['wall_s']:.1f}x")
    print("cpu flags:", ", ".join(k for k, v in res["cpu_flags"].items() if v) or "none")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
