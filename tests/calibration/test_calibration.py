"""Calibration metrics, post-hoc maps and their effect on picks (seisforge.bench.picking.calibration)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from seisforge.bench.picking import calibration as C
from seisforge.bench.picking import metrics as M


def test_ece_and_brier_by_hand():
    p = np.array([0.1, 0.2, 0.7, 0.9])
    y = np.array([0, 1, 1, 1])
    # bins {0.1, 0.2}: |0.15 - 0.5| = 0.35; {0.7, 0.9}: |0.8 - 1| = 0.2; equal mass -> 0.275
    assert C.ece(p, y, n_bins=2) == pytest.approx(0.275)
    assert C.brier(p, y) == pytest.approx((0.01 + 0.64 + 0.09 + 0.01) / 4)
    # one bin: |mean(p) - mean(y)| = |0.475 - 0.75|
    assert C.ece(p, y, n_bins=1) == pytest.approx(0.275)
    assert C.ece(p, y, n_bins=4) == pytest.approx((0.1 + 0.8 + 0.3 + 0.1) / 4)
    rel = C.reliability(p, y, n_bins=2)
    assert [r["n"] for r in rel] == [2, 2] and rel[1]["frac_correct"] == 1.0
    assert np.isnan(C.ece(np.array([]), np.array([])))


def _sharpened(rng, n, sharpen):
    p = rng.uniform(0.01, 0.99, n)
    y = rng.random(n) < p
    return C._sigmoid(sharpen * C._logit(p)), y


def test_calibrated_predictor_has_small_ece_and_sharpened_larger():
    rng = np.random.default_rng(0)
    p, y = _sharpened(rng, 20000, 1.0)
    q, _ = _sharpened(np.random.default_rng(0), 20000, 3.0)
    assert C.ece(p, y) < 0.015
    assert C.ece(q, y) > 0.1
    # temperature scaling fitted on "dev" finds T ~ 3 and brings a fresh "test" back near 0
    t = C.fit_temperature(q, y)["temperature"]
    assert t == pytest.approx(3.0, rel=0.1)
    qt, yt = _sharpened(np.random.default_rng(1), 20000, 3.0)
    assert C.ece(C.apply_map(qt, "temperature", {"temperature": t}), yt) < 0.02
    iso = C.fit_isotonic(q, y)
    assert C.ece(C.apply_map(qt, "isotonic", iso), yt) < 0.03


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_inverse_threshold_gives_the_same_triggers(method):
    rng = np.random.default_rng(2)
    q, y = _sharpened(rng, 3000, 2.5)
    params = C.fit_temperature(q, y) if method == "temperature" else C.fit_isotonic(q, y)
    p = np.concatenate([rng.uniform(0, 1, 5000), q])
    cal = C.apply_map(p, method, params)
    for t in (0.05, 0.2, 0.3, 0.5, 0.77, 0.95):
        r = C.inverse_threshold(t, method, params)
        assert np.array_equal(cal >= t, p >= r), t


def test_temperature_leaves_argmax_picks_unchanged():
    rng = np.random.default_rng(3)
    curves = rng.dirichlet([1, 1, 4], size=(200, 3000)).transpose(0, 2, 1)  # (N, PSN, T)
    cal = C.apply_map(curves, "temperature", {"temperature": 2.7})
    assert not np.allclose(cal, curves)
    assert np.array_equal(cal.argmax(axis=-1), curves.argmax(axis=-1))


def _pred_frames(rng, n_ev, split, sharpen=3.0):
    """task1/task23 prediction frames of a sharpened (over-confident) synthetic picker."""
    rows23 = []
    for i in range(n_ev):
        for ph in M.PHASES:
            p_true = rng.uniform(0.05, 0.95)
            ok = rng.random() < p_true
            err = rng.uniform(-0.3, 0.3) if ok else rng.choice([-1, 1]) * rng.uniform(0.7, 4)
            onset = 3000.0
            pred = onset + err * 100
            prob = float(C._sigmoid(sharpen * C._logit(p_true)))
            rows23.append({"trace_name": f"{split}{i}", "trace_key": f"d||{split}{i}", "trace_split": split,
                           "sampling_rate": 100.0, "start_sample": 2500, "end_sample": 3500,
                           "phase_label": ph, "phase_onset": onset, "source_id": f"ev{split}{i}",
                           "p_sample_pred": pred if ph == "P" else 0, "s_sample_pred": pred if ph == "S" else 0,
                           "p_prob": prob if ph == "P" else 0.1, "s_prob": prob if ph == "S" else 0.1,
                           "score_p_or_s": 1.0, "score_detection": prob})
    t23 = pd.DataFrame(rows23)
    noise_p = C._sigmoid(sharpen * C._logit(rng.uniform(0.001, 0.03, n_ev)))
    t1 = pd.DataFrame({"trace_name": [f"{split}n{i}" for i in range(n_ev)] + [f"{split}{i}" for i in range(n_ev)],
                       "trace_key": [f"d||{split}n{i}" for i in range(n_ev)] + [f"d||{split}{i}" for i in range(n_ev)],
                       "trace_split": split, "sampling_rate": 100.0, "start_sample": 0, "end_sample": 1000,
                       "trace_type": ["noise"] * n_ev + ["earthquake"] * n_ev,
                       "source_id": [""] * n_ev + [f"ev{split}{i}" for i in range(n_ev)],
                       "p_prob": np.r_[noise_p, rng.uniform(0.3, 1, n_ev)],
                       "s_prob": np.r_[noise_p[::-1], rng.uniform(0.3, 1, n_ev)],
                       "score_detection": np.r_[noise_p, rng.uniform(0.4, 1, n_ev)],
                       "score_p_or_s": 1.0})
    return t1, t23


@pytest.fixture(scope="module")
def pred_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("pred")
    rng = np.random.default_rng(4)
    for split, n in (("dev", 400), ("test", 300)):
        t1, t23 = _pred_frames(rng, n, split)
        t1.to_csv(d / f"{split}_task1.csv", index=False)
        t23.to_csv(d / f"{split}_task23.csv", index=False)
    (d / "run_report.json").write_text(json.dumps({"notes": {"model": "synthetic"}}))
    return d


def _apply_to_frame(df, cal):
    outputs = {c: df[c].to_numpy(float) for c in ("p_prob", "s_prob", "score_detection", "score_p_or_s")}
    out = df.copy()
    for k, v in C.calibrate_outputs(outputs, cal).items():
        out[k] = v
    return out


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_dev_fit_improves_test_ece_and_keeps_tuned_picks(pred_dir, method):
    cal = C.fit_calibration(pred_dir, method=method)
    assert set(cal["maps"]) == {"P", "S", "detection"} and cal["fitted_on"] == "dev"
    frames = {n: pd.read_csv(pred_dir / f"{n}.csv", dtype={"source_id": str})
              for n in ("dev_task1", "dev_task23", "test_task1", "test_task23")}
    calf = {n: _apply_to_frame(f, cal) for n, f in frames.items()}
    before = C.calibration_metrics(frames["test_task1"], frames["test_task23"], n_boot=0)[0]
    after = C.calibration_metrics(calf["test_task1"], calf["test_task23"], n_boot=0)[0]
    for key in ("P", "S"):
        assert after[f"test_{key}_ece"] < 0.7 * before[f"test_{key}_ece"]
    # onsets untouched; the set of picked test windows at the calibrated threshold is the raw set at its preimage
    assert np.array_equal(calf["test_task23"]["p_sample_pred"], frames["test_task23"]["p_sample_pred"])
    noise = {k: f[f["trace_type"] == "noise"] for k, f in (("raw", frames["dev_task1"]), ("cal", calf["dev_task1"]))}
    _, thr_raw = M.task3_metrics(frames["dev_task23"], frames["test_task23"], noise["raw"], None, {})
    _, thr_cal = M.task3_metrics(calf["dev_task23"], calf["test_task23"], noise["cal"], None, {})
    for ph in M.PHASES:
        raw_p = M.phase_probabilities(frames["test_task23"], ph)
        cal_p = M.phase_probabilities(calf["test_task23"], ph)
        picked_cal = cal_p >= thr_cal[ph]
        assert np.array_equal(picked_cal, raw_p >= C.inverse_threshold(thr_cal[ph], method, cal["maps"][ph]))
        if method == "temperature":  # strictly monotone: the dev-tuned threshold moves with the map
            assert thr_cal[ph] == pytest.approx(C.apply_map(np.array([thr_raw[ph]]), method, cal["maps"][ph])[0])
            assert np.array_equal(picked_cal, raw_p >= thr_raw[ph])


def test_score_writes_calibration_keys_and_leaderboard_figure(pred_dir, tmp_path):
    from seisforge.bench.picking.score import score
    from seisforge.bench.report import leaderboard

    res = score(pred_dir, n_boot=30)
    for key in ("test_P_ece", "test_P_brier", "test_S_ece", "test_S_brier", "test_det_ece", "test_det_brier"):
        assert np.isfinite(res["metrics"][key]) and len(res["ci95"][key]) == 2
        lo, hi = res["ci95"][key]
        assert lo <= res["metrics"][key] <= hi
    assert res["calibration"]["n_bins"] == 10 and len(res["calibration"]["reliability"]["P"]) == 10
    # P: 300 P windows + 300 noise windows
    assert res["calibration"]["n"]["P"] == 600
    paths = leaderboard([pred_dir], tmp_path)
    assert (tmp_path / "reliability.png").is_file() and tmp_path / "reliability.png" in paths


def test_store_calibration_in_card_and_read_back(pred_dir, tmp_path):
    from seisforge.models.card import ModelCard, read_card, write_card

    write_card(ModelCard(model_class="PhaseNet", sampling_rate=100.0, window_samples=3001, component_order="ZNE",
                         labels="PSN", thresholds={"P": 0.3, "S": 0.3}), tmp_path)
    cal = C.fit_calibration(pred_dir)
    path = C.store_calibration(cal, tmp_path)
    card = read_card(path)
    assert card.calibration["method"] == "temperature"
    t = cal["maps"]["P"]["temperature"]
    metrics = json.loads((pred_dir / "metrics.json").read_text())
    raw = metrics["thresholds"]["P_pick_threshold"]
    assert card.thresholds["P"] == pytest.approx(C.apply_map(np.array([raw]), "temperature", {"temperature": t})[0])
    raw_back, calibrated, _ = C.calibrated_pick_thresholds(str(path), "x", None, {"P": None, "S": 0.5})
    assert raw_back["P"] == pytest.approx(raw, rel=1e-6) and calibrated["S"] == 0.5
    assert C.card_calibration(path)["maps"]["P"]["temperature"] == t


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_pick_triggers_at_the_inverse_threshold_match_calibrated_triggers(method):
    """`pick --calibrated` triggers the raw curves at f^-1(t): the same onsets as the calibrated curves at t."""
    from obspy.signal.trigger import trigger_onset

    rng = np.random.default_rng(5)
    q, y = _sharpened(rng, 2000, 2.0)
    params = C.fit_temperature(q, y) if method == "temperature" else C.fit_isotonic(q, y)
    t = np.arange(20000)
    curve = np.clip(1e-4 + sum(a * np.exp(-0.5 * ((t - c) / 15) ** 2)
                               for a, c in zip(rng.uniform(0.1, 0.95, 40), rng.uniform(0, 20000, 40))), 0, 1)
    cal = C.apply_map(curve, method, params)
    for thr in (0.2, 0.4, 0.6):
        raw_thr = C.inverse_threshold(thr, method, params)
        off = thr / 2
        trig_cal = trigger_onset(cal, thr, off).tolist()
        trig_raw = trigger_onset(curve, raw_thr, C.inverse_threshold(off, method, params)).tolist()
        assert trig_cal == trig_raw and len(trig_raw) > 3
