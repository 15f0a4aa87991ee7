"""``seisforge data manifest|split|audit-leakage|clean-labels|noise-pool``: auditable training sets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seisforge.commands import _validate as v

EXTENDS = "data"


def _sources(items: list[str]) -> list[tuple[str, str]]:
    from seisforge.data.sources import dataset_name

    out = []
    for item in items:
        name, sep, path = item.partition("=")
        out.append((name, path) if sep and not Path(item).exists() else (dataset_name(item), item))
    return out


def _manifest(args: argparse.Namespace) -> int:
    from seisforge.config import load_config
    from seisforge.data.manifest import ManifestConfig, build_manifest
    from seisforge.data.manifest_io import manifest_paths, write_manifest

    manifest_paths(args.out)  # a bad output name fails before any work
    if args.config is None and not args.dataset:
        from seisforge.errors import ConfigError

        raise ConfigError("data manifest: give CONFIG.yaml or at least one --dataset")
    cfg = load_config(ManifestConfig, args.config, args.set)
    config_dir = Path(args.config).resolve().parent if args.config else None
    if config_dir is not None:  # file paths in a config may not escape the config's folder
        from seisforge.paths import resolve_under

        for attr in ("exclude_bench", "exclude_bench_dataset", "drop_flags"):
            val = getattr(cfg, attr)
            named = attr == "exclude_bench_dataset" and val and "/" not in val and not (config_dir / val).exists()
            if val and not named:  # a bare name that is no file there is a SeisBench dataset class
                setattr(cfg, attr, str(resolve_under(config_dir, val)))
    for attr, val in (("exclude_bench", args.exclude_bench), ("exclude_bench_dataset", args.bench_dataset),
                      ("drop_flags", args.drop_flags)):
        if val is not None:
            setattr(cfg, attr, val)
    if args.exclude_bench_stations:
        cfg.exclude_bench_stations = True
    df, report = build_manifest(cfg, config_dir=config_dir, sources=_sources(args.dataset) if args.dataset else None)
    paths = write_manifest(df, report, args.out)
    print(f"manifest: {report['rows_out']} traces ({report['rows_in']} in, {report['dropped_total']} dropped: "
          f"{report['dropped'] or 'none'}) -> {paths['parquet']}")
    print(f"splits: {report['split']['rows_per_split']}; report: {paths['report_md']}")
    return 0


def _split(args: argparse.Namespace) -> int:
    from seisforge.data.manifest import SplitConfig, assign_splits, bin_table
    from seisforge.data.manifest_io import read_manifest, write_manifest
    from seisforge.runinfo import sha256_file

    df, prov = read_manifest(args.manifest, with_provenance=True)
    cfg = SplitConfig(by=args.by, fractions=args.fractions, seed=args.seed)
    drops: dict[str, int] = {}
    before = bin_table(df)
    out, info = assign_splits(df, cfg, drops)
    config = dict(prov.get("config") or {})
    config["split"] = {"by": cfg.by, "fractions": list(cfg.fractions), "seed": cfg.seed}
    report = {
        "derived_from": {"manifest": str(args.manifest), "sha256": sha256_file(args.manifest)},
        "datasets": {name: {"source": src, "traces": int((out["dataset"] == name).sum()), "event_key_source": "-",
                            "category_inferred": "-"} for name, src in prov.get("datasets", {}).items()},
        "rows_in": int(len(df)), "rows_out": int(len(out)), "dropped": drops, "dropped_total": int(sum(drops.values())),
        "counts_before": before, "counts_after": bin_table(out),
        "qc": {"enabled": "unchanged", "policy": "unchanged"}, "split": info,
        "rebalance": {"mode": "unchanged", "oversampling": "weight (no repetition)"}, "config": config,
    }
    paths = write_manifest(out.reset_index(drop=True), report, args.out)
    print(f"split by {args.by}: {info['rows_per_split']} (removed: {drops or 'none'}; events in several "
          f"splits: {info['events_in_several_splits']}) -> {paths['parquet']}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from seisforge.data.leakage import check_leakage, leakage_markdown
    from seisforge.data.manifest_io import read_manifest
    from seisforge.runinfo import write_json

    df = read_manifest(args.train)
    report = check_leakage(df, args.bench, bench_dataset=args.bench_dataset,
                           splits=list(args.splits) if args.splits else None)
    text = leakage_markdown(report)
    print(text, end="")
    if args.report:
        write_json(report, args.report)
        Path(args.report).with_suffix(".md").write_text(text)
    return 3 if report["overlap"] else 0


def _screener(args: argparse.Namespace):
    from seisforge.data.screening import TraceScreener

    return TraceScreener(args.model, weights=args.weights, pretrained=args.pretrained, device=args.device,
                         batch_size=args.batch_size)


def _clean(args: argparse.Namespace) -> int:
    from seisforge.data.label_errors import CleanLabelsConfig, find_label_errors
    from seisforge.data.manifest_io import read_manifest
    from seisforge.data.noise_pool import write_table
    from seisforge.data.screening import open_manifest_datasets, parse_dataset_overrides

    df, prov = read_manifest(args.manifest, with_provenance=True)
    if args.splits:
        df = df[df["split"].isin(args.splits)]
    cfg = CleanLabelsConfig(p_threshold=args.p_threshold, s_threshold=args.s_threshold,
                            tolerance_s=args.tolerance, stalta=args.stalta, stalta_on=args.stalta_on)
    screener = _screener(args)
    datasets = open_manifest_datasets(df, prov, parse_dataset_overrides(args.dataset),
                                      sampling_rate=screener.sampling_rate, component_order=screener.component_order)
    flags, report = find_label_errors(df, datasets, screener, cfg)
    report["manifest"] = str(args.manifest)
    paths = write_table(flags, report, args.out, provenance={"manifest": str(args.manifest), **prov})
    for name, d in report["datasets"].items():
        reasons = ", ".join(f"{r} {v['traces']} ({100 * v['fraction']:.1f}%)" for r, v in d["by_reason"].items())
        print(f"{name}: {d['flagged_traces']}/{d['scanned']} flagged ({100 * d['removal_fraction']:.1f}%): {reasons}")
    print(f"flags -> {paths['parquet']}; use: seisforge data manifest ... --drop-flags {paths['parquet']}")
    return 0


def _noise_pool(args: argparse.Namespace) -> int:
    from seisforge.config import load_config
    from seisforge.data.manifest_io import read_manifest
    from seisforge.data.noise_pool import NoisePoolConfig, build_noise_pool, write_table
    from seisforge.data.screening import open_manifest_datasets
    from seisforge.paths import resolve_under

    cfg = load_config(NoisePoolConfig, args.config, args.set)
    root = Path(args.config).resolve().parent
    df, prov = read_manifest(resolve_under(root, cfg.manifest), with_provenance=True)
    screener = _screener(args)
    overrides = {k: str(resolve_under(root, v)) for k, v in cfg.datasets.items()}
    datasets = open_manifest_datasets(df, prov, overrides, sampling_rate=screener.sampling_rate,
                                      component_order=screener.component_order)
    pool, report = build_noise_pool(df, datasets, screener, cfg)
    sources = {**prov.get("datasets", {}), **overrides}
    paths = write_table(pool, report, args.out, provenance={"manifest": cfg.manifest, "datasets": sources})
    print(json.dumps(report["counts"], indent=1))
    print(f"{len(pool)} noise windows kept -> {paths['parquet']}")
    return 0


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model spec giving probability curves: seisbench:<Class> or "
                   "<Class> (with --weights or --pretrained), run:DIR, ensemble:SPEC1,SPEC2 "
                   "(grammar: seisforge.models.registry)")
    p.add_argument("--weights", help="SeisBench weight pair (prefix, file or folder)")
    p.add_argument("--pretrained", help="SeisBench hub weights name")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=v.positive_int, default=64)


def register_verbs(verbs: argparse._SubParsersAction) -> None:
    """Add the manifest verbs to the ``data`` group."""
    p = verbs.add_parser("manifest", help="build a training manifest (Parquet) with provenance and report")
    p.add_argument("config", nargs="?", help="ManifestConfig YAML (optional with --dataset)")
    p.add_argument("--dataset", action="append", default=[], help="dataset path or SeisBench name (repeatable; "
                   "NAME=PATH to rename); replaces the config's datasets")
    p.add_argument("--out", required=True, help="MANIFEST.parquet")
    p.add_argument("--set", action="append", default=[], help="config override key=value (repeatable)")
    p.add_argument("--exclude-bench", help="drop the events of this benchmark (targets folder or manifest)")
    p.add_argument("--bench-dataset", help="the dataset of --exclude-bench targets (station keys, event fallback)")
    p.add_argument("--exclude-bench-stations", action="store_true", help="also drop the benchmark's stations")
    p.add_argument("--drop-flags", help="clean-labels FLAGS.parquet: drop the flagged traces (by key)")
    p.set_defaults(func=_manifest)

    p = verbs.add_parser("split", help="reassign a manifest's splits by event, station or time")
    p.add_argument("manifest")
    p.add_argument("--by", choices=["event", "station", "time"], default="event")
    p.add_argument("--fractions", type=v.fractions, default=(0.6, 0.2, 0.2))
    p.add_argument("--seed", type=v.seed, default=0)
    p.add_argument("--out", required=True, help="output manifest .parquet")
    p.set_defaults(func=_split)

    p = verbs.add_parser("audit-leakage", help="overlap between a training manifest and a benchmark (exit 3)")
    p.add_argument("--train", required=True, help="training MANIFEST.parquet")
    p.add_argument("--bench", required=True, help="benchmark targets folder or manifest .parquet")
    p.add_argument("--bench-dataset", help="dataset of the targets (station keys, event-key fallback)")
    p.add_argument("--splits", type=v.name_list, help="only audit these manifest splits (comma-separated; default all)")
    p.add_argument("--report", help="also write the report as JSON (+ .md)")
    p.set_defaults(func=_audit)

    p = verbs.add_parser("clean-labels", help="flag multiplets and energy in noise with a picker")
    p.add_argument("manifest")
    _model_args(p)
    p.add_argument("--out", required=True, help="FLAGS.parquet")
    p.add_argument("--dataset", action="append", default=[], help="NAME=PATH overriding the recorded source")
    p.add_argument("--splits", type=v.name_list, help="only these splits (comma-separated)")
    p.add_argument("--p-threshold", type=v.threshold, default=0.5)
    p.add_argument("--s-threshold", type=v.threshold, default=0.5)
    p.add_argument("--tolerance", type=v.positive_float, default=1.5, help="seconds from a labelled pick still explained")
    p.add_argument("--stalta", action="store_true", help="also flag STA/LTA triggers in noise windows")
    p.add_argument("--stalta-on", type=v.positive_float, default=8.0)
    p.set_defaults(func=_clean)

    p = verbs.add_parser("noise-pool", help="screened noise windows for augmentation")
    p.add_argument("config", help="NoisePoolConfig YAML")
    _model_args(p)
    p.add_argument("--out", required=True, help="NOISE.parquet")
    p.add_argument("--set", action="append", default=[])
    p.set_defaults(func=_noise_pool)
