"""Metric functions against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seisforge.bench.picking import metrics as M
from seisforge.binary_metrics import binary_prf, f1_optimal_threshold, safe_auc
from seisforge.models.window_picker import outputs_from_probabilities


def test_residual_stats_by_hand():
    r = np.array([0.1, -0.3, 0.2, 0.0])
    s = M.residual_stats(r)
    assert s["mean_s"] == pytest.approx(0.0)
    assert s["std_s"] == pytest.approx(np.sqrt((0.01 + 0.09 + 0.04) / 4))  # RMS, as pick-benchmark
    assert s["mae_s"] == pytest.approx(0.6 / 4)


def test_f1_optimal_threshold_by_hand():
    y = np.array([0, 0, 1, 1, 1])
    s = np.array([0.1, 0.6, 0.4, 0.7, 0.9])
    thr, p, r, f = f1_optimal_threshold(y, s)
    # threshold 0.4 -> predicted {0.4,0.6,0.7,0.9}: tp 3 fp 1 -> P .75 R 1 F1 6/7
    # threshold 0.7 -> tp 2, fp 0 -> P 1 R 2/3 F1 .8 ; 6/7 wins
    assert thr == pytest.approx(0.4)
    assert (p, r, f) == pytest.approx((0.75, 1.0, 6 / 7))


def test_mcc_threshold_and_binary_prf():
    y = np.array([1, 1, 0, 0])
    s = np.array([5.0, 3.0, 1.0, 0.5])
    thr, mcc = M.mcc_threshold(y, s, n_candidates=4)
    assert mcc == pytest.approx(1.0) and 1.0 <= thr < 3.0
    assert binary_prf(y, s > 4) == pytest.approx((1.0, 0.5, 2 / 3))


def test_auc_single_class_is_nan():
    assert np.isnan(safe_auc(np.array([1, 1]), np.array([0.2, 0.3])))
    assert safe_auc(np.array([0, 1]), np.array([0.2, 0.3])) == 1.0


def test_pick_threshold_by_hand():
    prob = np.array([0.9, 0.8, 0.3, 0.6])
    res = np.array([0.0, 0.1, 0.05, 2.0])  # last one mislocated
    noise = np.array([0.7])
    # thr .9: tp1 fp0 fn3 -> 2/5=.4 ; thr .8: tp2 fp0 fn2 -> 4/8=.5 ; thr .7: tp2 fp1(noise) fn2 -> 4/9
    # thr .6: tp2 fp2 fn2 -> 4/10 ; thr .3: tp3 fp2 fn1 -> 6/12 = .5 (tie with .8: lowest wins)
    assert M.pick_threshold(prob, res, noise) == pytest.approx(0.3)
    assert M.pick_threshold(prob, res, np.array([0.7, 0.5, 0.4])) == pytest.approx(0.8)


def test_pick_stats_conditional_vs_unconditional():
    prob = np.array([0.9, 0.9, 0.1, 0.9])
    res = np.array([0.1, -0.1, 4.0, 1.2])
    st = M.pick_stats(prob, res, np.array([0.95, 0.2]), 0.5, "t")
    assert st["t_recall"] == pytest.approx(2 / 4)
    assert st["t_detected_frac"] == pytest.approx(3 / 4)
    assert st["t_cond_mae_s"] == pytest.approx((0.1 + 0.1 + 1.2) / 3)
    assert st["t_cond_outlier_frac_1s"] == pytest.approx(1 / 3)
    assert st["t_outlier_frac_1s"] == pytest.approx(2 / 4)  # unconditional includes the missed 4 s one
    assert st["t_noise_fp_rate"] == pytest.approx(0.5)
    assert st["t_pick_precision"] == pytest.approx(2 / (2 + 1 + 1))


def test_task1_single_class_gives_nan_with_reason():
    dev = pd.DataFrame({"trace_type": ["earthquake"] * 3, "score_detection": [0.1, 0.5, 0.9]})
    reasons = {}
    out = M.task1_metrics(dev, dev.copy(), reasons)
    assert np.isnan(out["test_det_auc"]) and np.isnan(out["det_threshold"])
    assert "single class" in reasons["test_det_auc"] and "single class" in reasons["det_threshold"]


def test_test_data_never_moves_thresholds():
    rng = np.random.default_rng(0)
    n = 60
    dev = pd.DataFrame({"trace_type": np.where(rng.random(n) < 0.5, "earthquake", "noise"),
                        "score_detection": rng.random(n)})
    test1 = dev.sample(frac=1, random_state=1).reset_index(drop=True)
    test2 = test1.copy()
    test2["score_detection"] = 1 - test2["score_detection"]
    a, b = M.task1_metrics(dev, test1, {}), M.task1_metrics(dev, test2, {})
    assert a["det_threshold"] == b["det_threshold"]
    assert a["test_det_auc"] != b["test_det_auc"]


def test_outputs_only_inside_borders():
    probs = np.zeros((1, 3, 100))
    probs[0, 2] = 1.0  # noise
    probs[0, 0, 10] = 0.99  # P peak outside the borders: must be ignored
    probs[0, 0, 60] = 0.7
    probs[0, 1, 70] = 0.35
    probs[0, 2, 60] = 0.3
    out = outputs_from_probabilities(probs, np.array([[50, 90]]), "PSN")
    assert out["p_local"][0] == 10 and out["s_local"][0] == 20  # relative to the border start
    assert out["p_prob"][0] == pytest.approx(0.7)
    assert out["score_p_or_s"][0] == pytest.approx(0.7 / 0.35)
    assert out["score_detection"][0] == pytest.approx(0.7)


def test_bins():
    df = pd.DataFrame({"distance_km": [10.0, 200.0, 2000.0, np.nan], "magnitude": [0.5, 1.0, np.nan, 4.0]})
    groups = M.binning(df)
    assert list(groups["distance"]) == ["local", "regional", "teleseismic", "unknown"]
    assert list(groups["magnitude"]) == ["<1", "1-2", "unknown", ">=4"]
    assert list(groups["snr"]) == ["unknown"] * 4 and list(groups["dataset"]) == ["unknown"] * 4
