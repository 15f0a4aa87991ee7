"""Station-days/s of a teacher and its compressed models through the pick engine, interleaved.

``seisforge bench compression`` times each model once, one after the other; on a shared machine whose
load moves, teacher and student then see different machines (the teacher's station-days/s moved 4×
between report runs here). This script runs them in turn (teacher, student 1, student 2, teacher, ...)
``--rounds`` times on the same synthetic day, with the report's own functions
(:func:`seisforge.compress.report.synthetic_streams`, :func:`~seisforge.compress.report.continuous_picks`:
the pick engine, fp32, backend auto), and prints each model's median station-days/s and the median of its
per-round ratios to the first spec, with the CPU flags and thread count.

Example
-------
OMP_NUM_THREADS=1 python benchmarks/bench_compress_speed.py run:runs/teacher run:c/distill --hours 6 --rounds 5
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main(argv: list[str] | None = None) -> int:
    import torch

    from seisforge.compress.report import ReportSettings, continuous_picks, synthetic_streams
    from seisforge.models.registry import load_model
    from seisforge.runinfo import cpu_flags

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("specs", nargs="+", help="model specs; the first is the reference (the teacher)")
    p.add_argument("--hours", type=float, default=6.0, help="length of the synthetic day")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args(argv)
    models = [load_model(s) for s in args.specs]
    settings = ReportSettings(station_hours=args.hours, noise_hours=0.1, engine_batch=args.batch_size)
    day, _ = synthetic_streams(float(models[0].model.sampling_rate), settings)
    continuous_picks(models[0], day, settings)  # warm-up: imports, runtime choice
    rates: dict[str, list[float]] = {s: [] for s in args.specs}
    for _ in range(args.rounds):
        for spec, loaded in zip(args.specs, models):
            _, seconds = continuous_picks(loaded, day, settings)
            rates[spec].append(args.hours / 24.0 / seconds)
    ref = np.array(rates[args.specs[0]])
    results = {s: {"station_days_per_s_median": float(np.median(r)),
                   "ratio_to_first_median": float(np.median(np.array(r) / ref)), "rounds": r}
               for s, r in rates.items()}
    print(json.dumps({"hours": args.hours, "rounds": args.rounds, "threads": torch.get_num_threads(),
                      "cpu_flags": cpu_flags(), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
