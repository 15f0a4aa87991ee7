"""``seisforge data ...``: convert, synth (manifests, splits and audits join this group)."""

from __future__ import annotations

import argparse

from seisforge.commands import _validate as v


def _convert(args: argparse.Namespace) -> int:
    from seisforge.data.phasenet_npz import convert_phasenet_npz

    report = convert_phasenet_npz(
        args.src, args.picks, args.out, split=args.split, fractions=args.fractions,
        seed=args.seed,
    )
    d = report.to_dict()
    print(f"converted {d['processed']} traces -> {args.out} (failed: {d['failed'] or 0}; "
          f"dead components recorded: {d['handled'].get('dead_component_recorded', 0)})")
    print(f"splits: {d['notes']['traces_per_split']}; report: {args.out}/run_report.json")
    return 0


def _synth(args: argparse.Namespace) -> int:
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
    s.set_defaults(func=_synth)
    return verbs
