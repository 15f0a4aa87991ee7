"""Distillation on continuous data: ``seisforge data windows`` and selection/thresholds on a dev day."""

from __future__ import annotations

import json

import numpy as np
import obspy
import pandas as pd
import pytest
import seisbench.data as sbd

from seisforge.cli import main
from seisforge.testing import write_continuous

FAST = ["--set", "train.steps_per_epoch=2", "--set", "train.batch_size=4", "--set", "deterministic=true",
        "--set", "augment.pick_window_prob=0", "--set", "augment.noise_prob=0"]


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    """Two 20-minute training station-days, one with a gap, and a 20-minute dev day (other seeds)."""
    root = tmp_path_factory.mktemp("continuous")
    write_continuous(root / "train", ["XX.A.00", "XX.B.00"], ["2025-01-01"], duration_s=1200.0,
                     n_events_per_day=6, seed=100)
    path = root / "train" / "waveforms" / "XX.B.00.2025-01-01.mseed"
    st = obspy.read(str(path))
    t0 = st[0].stats.starttime
    gapped = st.slice(endtime=t0 + 500) + st.slice(starttime=t0 + 700)  # a 200 s gap, read back as NaN
    gapped.write(str(path), format="MSEED", encoding="FLOAT32")
    write_continuous(root / "dev", ["XX.D.00"], ["2025-02-01"], duration_s=1200.0, n_events_per_day=6, seed=200)
    return root


def test_windows_are_unlabelled_tiles_of_the_stream_and_gaps_are_skipped(days, tmp_path):
    out = tmp_path / "win"
    assert main(["data", "windows", str(days / "train" / "waveforms"), "--out", str(out), "--window-samples",
                 "6000", "--dev-fraction", "0.25", "--seed", "3"]) == 0
    meta = pd.read_csv(out / "metadata.csv")
    report = json.loads((out / "run_report.json").read_text())
    assert report["processed"] == len(meta) > 0
    assert meta[["trace_p_arrival_sample", "trace_s_arrival_sample"]].isna().all().all()  # no labels
    assert set(meta["split"]) == {"train", "dev"}
    # the gap of station B (200 s = 20 000 samples) fails QC in every 6000-sample tile that touches it
    assert report["skipped"].get("nonfinite", 0) >= 3
    ds = sbd.WaveformDataset(out, component_order="ZNE")
    a = obspy.read(str(days / "train" / "waveforms" / "XX.A.00.2025-01-01.mseed"))
    z = a.select(component="Z")[0].data
    rows = meta.index[meta["station_code"] == "A"]
    offsets = meta.loc[rows, "trace_unit_offset_samples"].to_numpy()
    assert np.all(np.diff(offsets[meta.loc[rows, "split"] == "train"]) == 6000)  # consecutive tiles
    for i in rows[:3]:
        w = ds.get_waveforms(int(i))
        assert w.shape == (3, 6000)
        o = int(meta.loc[i, "trace_unit_offset_samples"])
        np.testing.assert_array_equal(w[0], z[o:o + 6000])  # the stream itself, Z first
    dev_first = meta.loc[rows][meta.loc[rows, "split"] == "dev"]["trace_unit_offset_samples"].min()
    assert dev_first >= int(0.75 * len(z))  # the dev part is the end of the station-day


def test_a_model_agrees_with_itself_on_the_dev_day(days, model):
    from seisforge.compress.dev_day import DayAgreement

    day = DayAgreement(model, [str(days / "dev" / "waveforms")])
    assert len(day.reference) > 0
    metrics = day.metrics(model)
    assert metrics["dev_day_disagreement"] == 0.0
    thresholds, info = day.thresholds(model)
    assert info["teacher_picks"] == len(day.reference)
    assert all(0 < t <= day.teacher_thresholds[p] + 1e-9 for p, t in thresholds.items())


def test_distill_on_windows_selects_and_tunes_on_the_dev_day(days, weights, tmp_path):
    from seisforge.models.card import read_card

    win = tmp_path / "win"
    assert main(["data", "windows", str(days / "train" / "waveforms"), "--out", str(win),
                 "--dev-fraction", "0.25"]) == 0
    out = tmp_path / "student"
    assert main(["compress", "PhaseNetLight", "--weights", weights, "--method", "distill", "--student-width", "0.5",
                 "--epochs", "2", "--dataset", str(win), "--kd-alpha", "1", "--dev-day",
                 str(days / "dev" / "waveforms"), *FAST, "--set", "loss.kd.slope_weight=20",
                 "--set", "loss.kd.l2_weight=10", "--out", str(out)]) == 0
    metrics = pd.read_csv(out / "metrics.csv")
    assert len(metrics) == 2 and metrics["dev_day_disagreement"].between(0, 1).all()
    best = json.loads((out / "best" / "seisforge.json").read_text())
    assert best["selection_metric"] == "dev_day_disagreement"
    assert best["selection_value"] == pytest.approx(metrics["dev_day_disagreement"].min())
    card = read_card(out / "model_card.json")
    assert card.training["thresholds"].startswith("tuned on a continuous dev day")
    assert card.training["dev_day"] == [str(days / "dev" / "waveforms")]
    weights_args = json.loads((out / "best" / "model.json").read_text())["default_args"]
    for phase in ("P", "S"):
        assert weights_args[f"{phase}_threshold"] == pytest.approx(card.thresholds[phase])
