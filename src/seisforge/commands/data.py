"""``seisforge data ...``: convert, synth (manifests, splits and audits join this group)."""

from __future__ import annotations

import argparse

from seisforge.commands import _validate as v


def _convert(args: argparse.Namespace) -> int:
    from seisforge.data.phasenet_npz import convert_phasenet_npz

    report = convert_phasenet_npz(
        args.src, args.picks, args.out, split=args.split, fractions=args.fractions,
        seed=args.seed, pick_policy=args.pick_policy,
    )
    d = report.to_dict()
    print(f"converted {d['processed']} traces -> {args.out} (failed: {d['failed'] or 0}; "
          f"dead components recorded: {d['handled'].get('dead_component_recorded', 0)})")
    outside = d["handled"].get("pick_outside_trace_dropped", 0) + d["skipped"].get("pick_outside_trace", 0)
    if outside:
        print(f"label QC: {outside} pick(s)/trace(s) outside their trace ({args.pick_policy}); see the report")
    print(f"splits: {d['notes']['traces_per_split']}; report: {args.out}/run_report.json")
    return 0


def _synth_network(args: argparse.Namespace) -> int:
    from seisforge.data.network import NetworkConfig, synthesize_network

    cfg = NetworkConfig(stations=args.stations, days=args.days, hours=args.hours,
                        events_per_day=args.events_per_day, seed=args.seed, area_km=args.area_km,
                        transients_per_day=args.transients_per_day, timing_error_s=args.timing_error_s,
                        dead_channel_prob=args.dead_channel_prob)
    report = synthesize_network(cfg, args.out)
    n = report.to_dict()["notes"]
    print(f"wrote {report.processed} station-days: {n['events']} events ({n['visible_events']} visible at >= 4 "
          f"stations), {n['arrivals_above_noise']}/{n['arrivals']} arrivals above the noise -> {args.out}")
    print(f"pick it with: seisforge pick --sds {args.out}/sds --stations {n['stations']} --start "
          f"{cfg.start} --end <end> ...")
    return 0


def _synth(args: argparse.Namespace) -> int:
    if args.network:
        return _synth_network(args)
    from seisforge.data.synthetic import SynthConfig, synthesize

    cfg = SynthConfig(events=args.events, noise_traces=args.noise_traces, seed=args.seed,
                      second_event_prob=args.second_event_prob,
                      label_second_events=not args.unlabelled_second_events,
                      second_event_min_rel_amp=args.second_event_min_rel_amp,
                      noise_event_prob=args.noise_event_prob, transient_prob=args.transient_prob,
                      fractions=args.fractions)
    report = synthesize(cfg, args.out)
    d = report.to_dict()
    print(f"wrote {d['processed']} traces ({args.events} events, {args.noise_traces} noise) -> {args.out}")
    print(f"splits: {d['notes']['traces_per_split']}; multiplets: {d['notes']['multiplets']}")
    return 0


def _windows(args: argparse.Namespace) -> int:
    from seisforge.train.unlabelled import write_windows

    report = write_windows(args.paths, args.out, window_samples=args.window_samples,
                           sampling_rate=args.sampling_rate, dev_fraction=args.dev_fraction, seed=args.seed)
    d = report.to_dict()
    print(f"wrote {d['processed']} unlabelled windows from {d['notes']['station_days']} station-days -> {args.out}; "
          f"splits: {d['notes']['traces_per_split']}; skipped: {d['skipped']}")
    return 0


def register(sub: argparse._SubParsersAction):
    """Add the ``data`` group."""
    group = sub.add_parser("data", help="datasets: convert, synthesize, manifests, splits")
    verbs = group.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True

    conv = verbs.add_parser("convert", help="convert a foreign format into a SeisBench dataset")
    fmt = conv.add_subparsers(dest="format", metavar="FORMAT")
    fmt.required = True
    p = fmt.add_parser("phasenet-npz", help="PhaseNet npz folder (e.g. NCEDC sample)")
    p.add_argument("src", help="folder with *.npz (or with waveforms/*.npz)")
    p.add_argument("--picks", required=True, help="picks.csv (fname, itp, its[, channels])")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.add_argument("--split", default="auto", choices=["auto", "train", "dev", "test"])
    p.add_argument("--fractions", type=v.fractions, default=(0.6, 0.2, 0.2), help="train,dev,test fractions for --split auto")
    p.add_argument("--seed", type=v.seed, default=0)
    p.add_argument("--pick-policy", default="drop_pick", choices=["drop_pick", "drop_trace", "error"],
                   help="label QC of an itp/its outside the trace: drop the pick (counted), drop the trace "
                        "(counted) or stop with an error")
    p.set_defaults(func=_convert)

    s = verbs.add_parser("synth", help="synthetic labelled seismograms as a SeisBench dataset")
    s.add_argument("--out", required=True)
    s.add_argument("--events", type=v.nonneg_int, default=200)
    s.add_argument("--noise-traces", type=v.nonneg_int, default=100)
    s.add_argument("--seed", type=v.seed, default=0)
    s.add_argument("--fractions", type=v.fractions, default=(0.6, 0.2, 0.2), help="train,dev,test fractions (event level)")
    s.add_argument("--second-event-prob", type=v.probability, default=0.1, help="traces with a second event")
    s.add_argument("--unlabelled-second-events", action="store_true",
                   help="do not label second events (seeds multiplet label errors)")
    s.add_argument("--second-event-min-rel-amp", type=v.nonneg_float, default=0.0,
                   help="minimum amplitude of a second event relative to the first")
    s.add_argument("--noise-event-prob", type=v.probability, default=0.0,
                   help="noise traces that secretly hold an event (seeds noise label errors)")
    s.add_argument("--transient-prob", type=v.probability, default=0.3, help="traces with non-seismic glitches")
    n = s.add_argument_group("network mode (--network): continuous SDS archive + true catalog, docs/catalog.md")
    n.add_argument("--network", action="store_true", help="synthesize a station network with a known catalog")
    n.add_argument("--stations", type=v.positive_int, default=10, help="number of stations")
    n.add_argument("--days", type=v.positive_int, default=1, help="days of continuous data from 2020-01-01")
    n.add_argument("--hours", type=v.positive_float, help="hours of data instead of whole --days")
    n.add_argument("--events-per-day", type=v.nonneg_float, default=48.0, help="mean number of events per day")
    n.add_argument("--area-km", type=v.positive_float, default=100.0, help="side of the square the stations fill")
    n.add_argument("--transients-per-day", type=v.nonneg_float, default=24.0, help="non-seismic transients per station-day")
    n.add_argument("--timing-error-s", type=v.nonneg_float, default=0.0,
                   help="standard deviation of per-station clock errors (s)")
    n.add_argument("--dead-channel-prob", type=v.probability, default=0.0,
                   help="probability that a station-day has one flat (dead) component")
    s.set_defaults(func=_synth)

    w = verbs.add_parser("windows", help="unlabelled SeisBench dataset of windows tiled from continuous data "
                                         "(distillation on the pick engine's input)")
    w.add_argument("paths", nargs="+", help="miniSEED/SAC files or folders of continuous station-days")
    w.add_argument("--out", required=True, help="output dataset folder")
    w.add_argument("--window-samples", type=v.positive_int, default=6000,
                   help="samples per window (longer than the model window: training cuts it at random offsets)")
    w.add_argument("--sampling-rate", type=v.positive_float, default=100.0)
    w.add_argument("--dev-fraction", type=v.probability, default=0.0,
                   help="share at the end of each station-day written as the dev split")
    w.add_argument("--seed", type=v.seed, default=0, help="seeds each station-day's tiling offset")
    w.set_defaults(func=_windows)
    return verbs
