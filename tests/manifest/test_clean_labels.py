"""clean-labels on seeded synthetic data (chunked, repeated names), noise-pool screening, --drop-flags."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_score, recall_score

from seisforge.cli import main
from seisforge.data.manifest_io import read_manifest
from seisforge.data.sources import open_dataset

KEY = ["chunk", "trace_name"]


@pytest.fixture(scope="module")
def cleaned(seeded_chunked, phasenet_weights, tmp_path_factory):
    """Manifest of the seeded dataset and the clean-labels flags for it (run once)."""
    root = tmp_path_factory.mktemp("clean")
    assert main(["data", "manifest", "--dataset", str(seeded_chunked), "--out", str(root / "m.parquet")]) == 0
    assert main(["data", "clean-labels", str(root / "m.parquet"), "--model", "seisbench:PhaseNetLight",
                 "--weights", str(phasenet_weights), "--out", str(root / "flags.parquet")]) == 0
    return root


def test_clean_labels_precision_recall_on_seeded_errors(cleaned, seeded_chunked):
    meta = open_dataset(seeded_chunked).metadata
    truth = meta.set_index(["trace_chunk", "trace_name"])
    truth = (truth["trace_multiplet"].astype(bool) | truth["trace_noise_has_event"].astype(bool))
    flags = pd.read_parquet(cleaned / "flags.parquet")
    flagged = set(zip(flags["chunk"], flags["trace_name"]))
    pred = np.array([k in flagged for k in truth.index])
    precision = precision_score(truth.to_numpy(), pred)
    recall = recall_score(truth.to_numpy(), pred)
    # per kind, too: multiplets and noise traces holding an event
    m = truth.index.isin(meta.loc[meta["trace_multiplet"].astype(bool), ["trace_chunk", "trace_name"]]
                         .apply(tuple, axis=1))
    print(f"\nclean-labels on {len(truth)} traces, {int(truth.sum())} seeded errors: precision {precision:.3f}, "
          f"recall {recall:.3f} (multiplets {pred[m].mean():.3f}, noisy noise {pred[truth.to_numpy() & ~m].mean():.3f})")
    assert recall >= 0.9 and precision >= 0.8
    report = json.loads((cleaned / "flags.report.json").read_text())
    d = report["datasets"]["seeded"]
    assert d["scanned"] == len(truth) and d["flagged_traces"] == len(flagged)
    assert set(d["by_reason"]) == {"multiplet", "noise_window_energy", "noise_trace_energy"}


def test_flags_are_keyed_by_chunk_not_by_name(cleaned, seeded_chunked):
    """Names repeat across the two chunks; a flag must hit only its own chunk's trace."""
    meta = open_dataset(seeded_chunked).metadata
    flags = pd.read_parquet(cleaned / "flags.parquet")
    assert {"dataset", "chunk", "trace_name", "reason"} <= set(flags.columns)
    assert "index" not in flags.columns and "trace_idx" not in flags.columns
    repeated = set(meta.loc[meta["trace_name"].duplicated(keep=False), "trace_name"])
    one_chunk_only = [
        (c, n) for c, n in zip(flags["chunk"], flags["trace_name"])
        if n in repeated and not ((flags["trace_name"] == n) & (flags["chunk"] != c)).any()
    ]
    assert one_chunk_only, "expected a flagged name that repeats in the other chunk unflagged"
    # drop-flags removes exactly the flagged (chunk, name) pairs
    out = cleaned / "clean.parquet"
    assert main(["data", "manifest", "--dataset", str(seeded_chunked), "--out", str(out),
                 "--drop-flags", str(cleaned / "flags.parquet")]) == 0
    kept = read_manifest(out)
    full = read_manifest(cleaned / "m.parquet")
    flagged = set(zip(flags["chunk"], flags["trace_name"]))
    assert len(full) - len(kept) == len(flagged)
    assert not set(zip(kept["chunk"], kept["trace_name"])) & flagged
    c, n = one_chunk_only[0]
    assert ((kept["trace_name"] == n) & (kept["chunk"] != c)).any()
    report = json.loads((cleaned / "clean.report.json").read_text())
    assert sum(v for k, v in report["dropped"].items() if k.startswith("label_flag_")) == len(flagged)


def test_noise_pool_rejects_windows_with_hidden_events(cleaned, seeded_chunked, phasenet_weights, tmp_path):
    cfg = tmp_path / "pool.yaml"
    cfg.write_text(f"manifest: {cleaned / 'm.parquet'}\nsplits: [train, dev, test]\nwindow_s: 25\n"
                   "windows_per_trace: 2\npre_p: true\nthreshold: 0.2\n")
    # config paths may not escape the config's folder
    assert main(["data", "noise-pool", str(cfg), "--model", "seisbench:PhaseNetLight", "--weights",
                 str(phasenet_weights), "--out", str(tmp_path / "noise.parquet")]) == 2
    shutil.copy(cleaned / "m.parquet", tmp_path / "m.parquet")
    cfg.write_text("manifest: m.parquet\nsplits: [train, dev, test]\nwindow_s: 25\nwindows_per_trace: 2\n"
                   "pre_p: true\nthreshold: 0.2\n")
    assert main(["data", "noise-pool", str(cfg), "--model", "seisbench:PhaseNetLight", "--weights",
                 str(phasenet_weights), "--out", str(tmp_path / "noise.parquet")]) == 0
    pool = pd.read_parquet(tmp_path / "noise.parquet")
    report = json.loads((tmp_path / "noise.report.json").read_text())
    counts = report["counts"]["seeded"]
    assert counts["noise_trace"]["kept"] + counts["pre_p"]["kept"] == len(pool)
    meta = open_dataset(seeded_chunked).metadata
    hidden = meta[meta["trace_noise_has_event"].astype(bool)]
    # windows that contain a hidden event onset (the event lasts; count its first 10 s)
    cand, rejected = 0, 0
    pool_keys = set(zip(pool["chunk"], pool["trace_name"], pool["start_sample"]))
    for row in hidden.itertuples():
        for k in range(2):
            a, b = k * 2500, (k + 1) * 2500
            if a - 1000 < row.trace_hidden_event_sample < b:
                cand += 1
                rejected += (row.trace_chunk, row.trace_name, a) not in pool_keys
    print(f"\nnoise-pool: {len(pool)} windows kept; windows holding a hidden event rejected: {rejected}/{cand}")
    assert cand > 5 and rejected / cand >= 0.8
    clean_noise = counts["noise_trace"]
    assert clean_noise["kept"] > clean_noise["rejected"]  # most noise windows survive
    assert (pool[["p_max", "s_max"]].to_numpy() <= 0.2).all()
    # training draws additive noise from the pool
    from seisforge.data.noise_pool import NoisePool

    sampler = NoisePool(tmp_path / "noise.parquet", sampling_rate=50.0)
    assert len(sampler) == len(pool) and sampler.window(0).shape == (3, 1250)
    noise = sampler.sample(np.random.default_rng(0), length=3001)
    assert noise.shape == (3, 3001) and noise.dtype == np.float32 and np.abs(noise).max() > 0


def test_stalta_triggers_and_model_requirements():
    from seisforge.data.label_errors import CleanLabelsConfig, stalta_triggers
    from seisforge.data.screening import TraceScreener
    from seisforge.errors import ConfigError

    rng = np.random.default_rng(3)
    quiet = rng.normal(0, 1, size=(3, 6000))
    cfg = CleanLabelsConfig(stalta=True)
    assert len(stalta_triggers(quiet, 100.0, cfg)) == 0
    loud = quiet.copy()
    t = np.arange(3000)
    loud[0, 3000:] += 30 * np.exp(-t / 150) * np.sin(2 * np.pi * 6 * t / 100)
    trig = stalta_triggers(loud, 100.0, cfg)
    assert len(trig) == 1 and abs(trig[0] - 3000) < 50
    assert len(stalta_triggers(loud, 100.0, cfg, end=2500)) == 0  # only the window before the pick
    with pytest.raises(ConfigError, match="probability curves"):
        TraceScreener("stalta")


def test_clean_labels_rescales_picks_of_other_sampling_rates(phasenet_weights, tmp_path):
    """A clean 50 Hz dataset scanned by a 100 Hz picker: labels are rescaled, so nothing is flagged."""
    from seisforge.data.synthetic import SynthConfig, synthesize

    synthesize(SynthConfig(events=8, noise_traces=2, seed=3, sampling_rate=50.0, second_event_prob=0.0,
                           snr_db_range=(5.0, 30.0)), tmp_path / "s50")
    assert main(["data", "manifest", "--dataset", str(tmp_path / "s50"), "--out", str(tmp_path / "m.parquet")]) == 0
    assert main(["data", "clean-labels", str(tmp_path / "m.parquet"), "--model", "seisbench:PhaseNetLight",
                 "--weights", str(phasenet_weights), "--out", str(tmp_path / "f.parquet")]) == 0
    report = json.loads((tmp_path / "f.report.json").read_text())
    assert report["datasets"]["s50"]["scanned"] == len(read_manifest(tmp_path / "m.parquet"))
    assert report["datasets"]["s50"]["flagged_traces"] == 0
