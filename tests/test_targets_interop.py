"""``bench targets``: pick-benchmark's generator reproduced, and noise windows that never hold a label.

The reference CSVs in ``tests/data/pick_benchmark_reference`` were written by the official
``generate_eval_targets.py`` (see the README there); nothing of its code is in the project.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import EDGE_TARGET_TRACES, label_table_dataset

from seisforge.bench.picking.targets import generate_targets
from seisforge.errors import ConfigError

REF = Path(__file__).parent / "data" / "pick_benchmark_reference"
LABELS = ["trace_p_arrival_sample", "trace_s_arrival_sample", "trace_p2_arrival_sample", "trace_s2_arrival_sample"]


def _random_rows() -> list[tuple]:
    return list(pd.read_csv(REF / "random_labels.csv").itertuples(index=False, name=None))


def _trace_labels(ds: Path, sampling_rate: float) -> dict[str, tuple[list[float], bool]]:
    """trace_name -> (labels inside the trace, has a label outside it), at ``sampling_rate``."""
    meta = pd.read_csv(ds / "metadata.csv")
    out = {}
    for row in meta.to_dict("records"):
        npts = row["n_samples"]
        scale = sampling_rate / row["trace_sampling_rate_hz"]
        vals = [row[c] * scale for c in LABELS if np.isfinite(row.get(c, np.nan))]
        inside = [v for v in vals if 0 <= v < npts * scale]
        out[row["trace_name"]] = (inside, len(inside) < len(vals))
    return out


def _bad_noise(windows: pd.DataFrame, labels: dict) -> pd.Series:
    """Noise windows that overlap a label or lie on a trace with a label outside it."""
    def bad(r):
        inside, flagged = labels[r["trace_name"]]
        return flagged or any(r["start_sample"] <= v < r["end_sample"] for v in inside)

    return (windows["trace_type"] == "noise") & windows.apply(bad, axis=1).astype(bool)


def _dataset(tmp_path: Path, case: str) -> Path:
    rows = None if case.startswith("edge") else _random_rows()
    ds = label_table_dataset(tmp_path / "ds", rows)
    meta = pd.read_csv(ds / "metadata.csv")
    npts = [r[0] for r in (EDGE_TARGET_TRACES if rows is None else rows)]
    meta["n_samples"] = npts  # the length, for the label check of this test (not read by SeisBench)
    meta.to_csv(ds / "metadata.csv", index=False)
    return ds


@pytest.mark.parametrize("case", ["edge_100hz", "random_100hz", "random_50hz", "random_100hz_no_noise_before"])
def test_pick_benchmark_generator_reproduces_official_windows(tmp_path, case):
    """Same dataset, same seed: every official window, except the noise windows that hold a label or come
    from a trace with a flagged pick (which are dropped and counted)."""
    sr = 50.0 if "50hz" in case else 100.0
    ds = _dataset(tmp_path, case)
    report = generate_targets(ds, tmp_path / "out", seed=42, sampling_rate=sr, generator="pick-benchmark",
                              noise_before_events="no_noise" not in case).to_dict()
    labels = _trace_labels(ds, sr)
    for task in ("task1", "task23"):
        ref = pd.read_csv(REF / case / f"{task}.csv")
        ours = pd.read_csv(tmp_path / "out" / f"{task}.csv")[ref.columns]
        if task == "task1":
            dropped = _bad_noise(ref, labels)
            assert int(dropped.sum()) == (report["skipped"].get("noise_window_overlaps_label", 0)
                                          + report["skipped"].get("noise_window_trace_has_flagged_pick", 0))
            ref = ref[~dropped.to_numpy()]
        assert len(ref) > 10 or case.startswith("edge")
        pd.testing.assert_frame_equal(ours.reset_index(drop=True), ref.reset_index(drop=True),
                                      check_dtype=False, check_exact=True)
    if case == "edge_100hz":
        assert report["skipped"]["noise_window_trace_has_flagged_pick"] == 3
        assert report["skipped"]["noise_window_overlaps_label"] == 2
        assert report["handled"]["flagged_pick_ignored"] == 5


@pytest.mark.parametrize("generator", ["seisforge", "pick-benchmark"])
def test_noise_windows_never_hold_a_label_property(tmp_path, generator):
    """Property over many random small datasets (labels inside, outside, negative, second events before
    and after): no noise window overlaps a labelled arrival, second event or flagged pick."""
    rng = np.random.default_rng(11)
    n_noise = 0
    for k in range(25):
        rows = []
        for _ in range(int(rng.integers(4, 12))):
            npts = int(rng.choice([150, 900, 3000, 4000, 6000, 9000]))
            vals = [float(rng.uniform(-0.3, 1.3) * npts) if rng.random() < 0.35 else np.nan for _ in range(4)]
            rows.append((npts, *vals, str(rng.choice(["dev", "test"]))))
        ds = label_table_dataset(tmp_path / f"d{k}", rows)
        meta = pd.read_csv(ds / "metadata.csv")
        meta["n_samples"] = [r[0] for r in rows]
        meta.to_csv(ds / "metadata.csv", index=False)
        second = bool(k % 2)
        generate_targets(ds, tmp_path / f"t{k}", seed=k, generator=generator, second_event_targets=second)
        t1 = pd.read_csv(tmp_path / f"t{k}" / "task1.csv")
        if t1.empty:
            continue
        assert not _bad_noise(t1, _trace_labels(ds, 100.0)).any(), f"dataset {k}"
        n_noise += int((t1["trace_type"] == "noise").sum())
    assert n_noise > 20  # the property was exercised


def test_second_events_follow_pick_benchmark_by_default(tmp_path):
    ds = label_table_dataset(tmp_path / "ds")
    default = generate_targets(ds, tmp_path / "a").to_dict()["notes"]["task23_rows"]
    with_second = generate_targets(ds, tmp_path / "b", second_event_targets=True).to_dict()["notes"]["task23_rows"]
    t23 = pd.read_csv(tmp_path / "a" / "task23.csv")
    assert set(t23["full_phase_label"]) <= {"p", "s"}
    assert sum(with_second.values()) > sum(default.values())
    assert {"p2", "s2"} <= set(pd.read_csv(tmp_path / "b" / "task23.csv")["full_phase_label"])


def test_generator_and_rate_are_checked(tmp_path):
    ds = label_table_dataset(tmp_path / "ds")
    with pytest.raises(ConfigError, match="--generator"):
        generate_targets(ds, tmp_path / "o", generator="other")
    with pytest.raises(ConfigError, match="--sampling-rate"):
        generate_targets(ds, tmp_path / "o", sampling_rate=0)
