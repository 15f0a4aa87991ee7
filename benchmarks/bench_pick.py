"""Speed and agreement: seisforge ``pick`` engine vs SeisBench ``classify`` on one station-day.

Both pipelines get the same in-memory 3-C 100 Hz stream, the same model object, weights and
arguments (batch size included), and run interleaved ``--repeats`` times; medians are reported.
An extra line times seisforge end to end (miniSEED read, clean-up, picking, Parquet write).

Examples
--------
python benchmarks/bench_pick.py                        # PhaseNetLight ETHZ weights from ../shared
python benchmarks/bench_pick.py --model PhaseNet --synthetic-weights runs/bench_phasenet
python benchmarks/bench_pick.py --model PhaseNet --pretrained stead   # needs network once
python benchmarks/bench_pick.py --model PhaseNet --random-init --hours 6

``--synthetic-weights DIR`` trains the model on seisforge's synthetic seismograms into ``DIR`` first
(``seisforge data synth`` + ``seisforge train``, deterministic, about 2 minutes on 2 cores) unless
``DIR/phasenet_synth/best`` already exists. Trained weights matter for speed: randomly initialised
PhaseNet outputs about 1/3 everywhere and has identity batch norms, neither of which is what real
weights do.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def train_synthetic(root: Path, model: str) -> Path:
    """Weights of ``model`` trained on synthetic seismograms under ``root`` (trained once, then reused)."""
    from seisforge.cli import main as cli

    best = root / "phasenet_synth" / "best"
    if not (best / "model.json").is_file():
        repo = Path(__file__).resolve().parent.parent
        steps = []
        if not (root / "data").is_dir():
            steps.append(["data", "synth", "--out", str(root / "data"), "--events", "400", "--noise-traces", "120",
                          "--seed", "0"])
        steps.append(["train", str(repo / "configs" / "demo_phasenet.yaml"), "--set", f"model.cls={model}",
                      "--set", f"data.path={root / 'data'}", "--set", f"run.root={root}", "--set", "train.epochs=25",
                      "--set", "name=phasenet_synth"])
        for step in steps:  # not assert: the check must survive python -O
            if cli(step) != 0:
                raise SystemExit(f"bench_pick: 'seisforge {' '.join(step[:2])}' failed; see its output above")
    return best / "model"


def main(argv: list[str] | None = None) -> int:
    from seisforge.deploy.engine import FastPicker
    from seisforge.models.registry import load_model
    from seisforge.paths import shared_dir
    from seisforge.runinfo import environment
    from seisforge.testing import continuous_stream, pick_set_f1, picks_frame

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="PhaseNetLight")
    p.add_argument("--weights", help="default: ../shared/models/phasenetlight_ethz/ethz for PhaseNetLight")
    p.add_argument("--random-init", action="store_true", help="randomly initialised model (seed 0)")
    p.add_argument("--synthetic-weights", metavar="DIR",
                   help="train the model on synthetic data into DIR (once) and use those weights")
    p.add_argument("--hours", type=float, default=24.0, help="length of the station-day slice")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pretrained", help="SeisBench hub weights (e.g. stead; needs network once)")
    p.add_argument("--events-per-hour", type=float, default=20.0,
                   help="inserted events per hour (20 gives ~900 picks a day, several times a typical station)")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx", "openvino"])
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="apply seisforge pick's glibc setting (seisforge.deploy.memory) to the whole benchmark "
                        "process first, so that SeisBench classify gets it too (a control)")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.keep_freed_memory:
        from seisforge.deploy.memory import keep_freed_memory

        if not keep_freed_memory():
            p.error("--keep-freed-memory: mallopt not available here (needs glibc)")
    weights = args.weights
    if args.synthetic_weights:
        weights = str(train_synthetic(Path(args.synthetic_weights), args.model))
    if weights is None and not args.random_init and args.model == "PhaseNetLight":
        root = shared_dir()
        if root is None:
            p.error("no --weights and ../shared not found; use --random-init")
        weights = str(root / "models" / "phasenetlight_ethz" / "ethz")
    torch.manual_seed(0)
    model = load_model(f"seisbench:{args.model}", weights=weights, pretrained=args.pretrained,
                       allow_random=args.random_init).model
    weights_desc = weights or (f"pretrained:{args.pretrained}" if args.pretrained else "random-init (torch seed 0)")

    stream, catalog = continuous_stream(duration_s=args.hours * 3600,
                                        n_events=int(round(args.events_per_hour * args.hours)), seed=7)
    picker = FastPicker(model, batch_size=args.batch_size, backend=args.backend, precision=args.precision)
    day_fraction = args.hours / 24.0

    sb_times, sf_times = [], []
    sb_picks = sf_picks = None
    for r in range(args.repeats):
        order = ("sb", "sf") if r % 2 == 0 else ("sf", "sb")
        for which in order:
            t = time.perf_counter()
            if which == "sb":
                sb_picks = model.classify(stream, batch_size=args.batch_size).picks
                sb_times.append(time.perf_counter() - t)
            else:
                sf_picks = picker.classify(stream)
                sf_times.append(time.perf_counter() - t)
    sb_med, sf_med = statistics.median(sb_times), statistics.median(sf_times)
    one_sample = 1.0 / model.sampling_rate
    agree = pick_set_f1(picks_frame(sb_picks), picks_frame(sf_picks), tolerance=one_sample + 1e-6)

    # end to end: file -> Parquet, through the same code as `seisforge pick`
    from seisforge.data.continuous.sources import index_files
    from seisforge.deploy.runner import get_picker, process_unit
    from seisforge.deploy.settings import PickSettings

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "day.mseed"
        stream.write(str(f), format="MSEED", encoding="FLOAT32")
        settings = PickSettings(model=f"seisbench:{args.model}", weights=weights, pretrained=args.pretrained,
                                random_init=args.random_init, batch_size=args.batch_size, backend=args.backend,
                                precision=args.precision)
        get_picker(settings)
        units = index_files([str(f)], pad_s=0.0).units
        t = time.perf_counter()
        for u in units:
            process_unit(u, settings, str(Path(tmp) / "out"))
        e2e = time.perf_counter() - t

    res = {
        "slice_hours": args.hours,
        "note": "full station-day" if args.hours == 24 else f"SHORT SLICE of {args.hours} h, scaled to station-days",
        "model": args.model, "weights": weights_desc, "backend": picker.backend,
        "precision": picker.precision, "precision_requested": args.precision, "inference_stats": picker.stats,
        "events_per_hour": args.events_per_hour, "keep_freed_memory": args.keep_freed_memory,
        "batch_size": args.batch_size, "torch_threads": torch.get_num_threads(), "repeats": args.repeats,
        "seisbench_s": sb_times, "seisforge_s": sf_times,
        "seisbench_station_days_per_s": day_fraction / sb_med,
        "seisforge_station_days_per_s": day_fraction / sf_med,
        "speedup": sb_med / sf_med,
        "seisforge_end_to_end_station_days_per_s": day_fraction / e2e,
        "agreement": agree, "catalog_arrivals": len(catalog),
        "environment": environment(device="cpu"),
    }
    print(f"bench_pick: {res['note']}; 3-C 100 Hz synthetic stream; {args.model} weights={weights_desc}; "
          f"backend={picker.backend}; precision={picker.precision} (asked {args.precision}); "
          f"batch={args.batch_size}; torch threads={torch.get_num_threads()}; "
          f"{args.events_per_hour:g} events/h; median of {args.repeats} interleaved runs; "
          f"allocator: {'kept freed memory (both pipelines)' if args.keep_freed_memory else 'glibc default'}")
    st = picker.stats
    if st["refined_windows"]:
        print(f"  bf16: forward cost {st['bf16_cost']:.2f} of fp32; {st['refined_windows']} of {st['windows']} "
              f"windows recomputed in fp32; max bf16 error below the cut {st['max_bf16_error']:.4f}; "
              f"fallbacks {st['fallbacks']}")
    print(f"  SeisBench classify : {res['seisbench_station_days_per_s']:.4f} station-days/s "
          f"({sb_med:.2f} s per slice)")
    print(f"  seisforge pick     : {res['seisforge_station_days_per_s']:.4f} station-days/s "
          f"({sf_med:.2f} s per slice)")
    print(f"  speed ratio        : {res['speedup']:.2f}x")
    print(f"  seisforge end-to-end (read miniSEED -> Parquet, seisforge pick's process settings): "
          f"{res['seisforge_end_to_end_station_days_per_s']:.4f} station-days/s")
    print(f"  pick agreement     : F1 {agree['f1']:.4f} (SeisBench {agree['n_ref']} picks, seisforge "
          f"{agree['n_est']}, max |dt| {agree['max_abs_residual_s']:.4f} s, tolerance one sample)")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
