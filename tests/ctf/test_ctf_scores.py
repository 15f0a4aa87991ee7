"""Scores against the official ctf4science formulas, written out independently here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seisforge.errors import DataError
from seisforge.wavefield.scores import (
    avg_score,
    compute_psd,
    e_scores,
    long_time_score,
    reconstruction_score,
    score_metrics,
    short_time_score,
)


def official_short(truth, pred, k):
    est = np.linalg.norm(truth[:k, :] - pred[:k, :], ord=2) / np.linalg.norm(truth[:k, :], ord=2)
    return float(100 * (1 - est))


def official_psd(array, k, modes):
    t, s = array.shape
    center = s // 2
    acc = np.zeros(modes)
    for i in range(k):
        ps = np.abs(np.fft.fft(array[t - k + i, :])) ** 2
        acc += np.fft.fftshift(ps)[center : center + modes]
    return acc / k


def official_long(truth, pred, k, modes):
    pt, pp = official_psd(truth, k, modes), official_psd(pred, k, modes)
    return float(100 * (1 - np.linalg.norm(pt - pp, ord=2) / np.linalg.norm(pt, ord=2)))


@pytest.mark.parametrize("shape", [(50, 64), (30, 201), (25, 7)])
def test_scores_equal_official_on_random_arrays(shape):
    rng = np.random.default_rng(sum(shape))
    truth = rng.standard_normal(shape)
    pred = truth + 0.5 * rng.standard_normal(shape)
    modes = min(100, shape[1] - shape[1] // 2)
    assert short_time_score(truth, pred, 20) == pytest.approx(official_short(truth, pred, 20), abs=1e-10)
    assert reconstruction_score(truth, pred) == pytest.approx(official_short(truth, pred, shape[0]), abs=1e-10)
    assert long_time_score(truth, pred, 20, modes) == pytest.approx(official_long(truth, pred, 20, modes), abs=1e-9)
    np.testing.assert_allclose(compute_psd(truth, 20, modes), official_psd(truth, 20, modes), rtol=1e-12)
    log_official = np.log(official_psd(truth, 20, modes) + 1e-10)
    np.testing.assert_allclose(compute_psd(truth, 20, modes, log_power=True), log_official, rtol=1e-12)


def test_spectral_norm_is_default_and_differs_from_frobenius():
    rng = np.random.default_rng(1)
    truth = rng.standard_normal((40, 30))
    pred = truth + rng.standard_normal((40, 30))
    spec = reconstruction_score(truth, pred)
    frob = reconstruction_score(truth, pred, norm="frobenius")
    err = pred - truth
    assert spec == pytest.approx(100 * (1 - np.linalg.svd(err, compute_uv=False)[0]
                                        / np.linalg.svd(truth, compute_uv=False)[0]))
    assert frob == pytest.approx(100 * (1 - np.sqrt((err**2).sum()) / np.sqrt((truth**2).sum())))
    assert abs(spec - frob) > 1.0
    # a rank-one error: the spectral norm sees all of it at once
    u = np.ones((40, 1)) @ np.ones((1, 30))
    assert reconstruction_score(u, 0.5 * u) == pytest.approx(50.0)
    assert reconstruction_score(u, 0.5 * u, norm="frobenius") == pytest.approx(50.0)


def test_zero_prediction_scores_exactly_zero_and_perfect_scores_100():
    rng = np.random.default_rng(2)
    truth = rng.standard_normal((40, 64))
    zero = np.zeros_like(truth)
    assert short_time_score(truth, zero, 20) == 0.0
    assert reconstruction_score(truth, zero) == 0.0
    assert long_time_score(truth, zero, 20, 32) == 0.0
    assert short_time_score(truth, truth, 20) == 100.0
    assert long_time_score(truth, truth, 20, 32) == 100.0


def test_all_zero_truth_is_a_clear_error():
    truth = np.zeros((30, 16))
    pred = np.ones((30, 16))
    with pytest.raises(DataError, match="all zero"):
        short_time_score(truth, pred, 20)
    with pytest.raises(DataError, match="all zero"):
        reconstruction_score(truth, pred)
    with pytest.raises(DataError, match="all zero"):
        long_time_score(truth, pred, 20, 8)


def test_bad_shapes_and_parameters_raise():
    truth = np.ones((30, 16))
    with pytest.raises(DataError, match="does not match truth shape"):
        short_time_score(truth, np.ones((30, 15)), 20)
    with pytest.raises(DataError, match="k=40"):
        short_time_score(truth, truth, 40)
    with pytest.raises(DataError, match="modes=9"):
        long_time_score(truth, truth, 20, 9)
    with pytest.raises(DataError, match="2-D"):
        reconstruction_score(np.ones(5), np.ones(5))


def test_nan_prediction_scores_minus_100_with_reason():
    rng = np.random.default_rng(3)
    truth = rng.standard_normal((30, 16))
    pred = truth.copy()
    pred[3, 4] = np.nan
    assert math.isnan(short_time_score(truth, pred, 20))
    scores, failure = score_metrics(truth, pred, ["short_time", "long_time"], 20, 20, 8)
    assert scores == {"short_time": -100.0, "long_time": -100.0}
    assert failure.startswith("non_finite_prediction") and "1 NaN/Inf" in failure
    ok, none = score_metrics(truth, truth, ["reconstruction"], 20, 20, 8)
    assert ok == {"reconstruction": 100.0} and none is None


def test_avg_score_clips_and_counts_nan_as_minus_100():
    es = {f"E{i}": 10.0 for i in range(1, 13)}
    assert avg_score(es) == pytest.approx(10.0)
    es["E1"] = -5000.0
    es["E2"] = float("nan")
    assert avg_score(es) == pytest.approx((10 * 10 - 100 - 100) / 12)
    del es["E3"]
    assert avg_score(es) == pytest.approx((9 * 10 - 300) / 12)
    with pytest.raises(DataError):
        avg_score([1.0, 2.0])


def test_e_scores_map_pairs_to_e_numbers():
    es = e_scores({1: {"short_time": 1.0, "long_time": 2.0}, 9: {"short_time": 12.0}})
    assert es["E1"] == 1.0 and es["E2"] == 2.0 and es["E12"] == 12.0
    assert math.isnan(es["E3"])
