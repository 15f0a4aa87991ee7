"""Losses on tiny tensors against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from seisforge.train import losses

EPS = losses.EPS


def _t(rows):
    """(classes, time) nested list -> (1, C, T) tensor."""
    return torch.tensor([rows], dtype=torch.float64)


def test_soft_ce_by_hand():
    p = _t([[0.7, 0.2], [0.2, 0.1], [0.1, 0.7]])  # classes P, S, N over 2 samples
    y = _t([[1.0, 0.0], [0.0, 0.5], [0.0, 0.5]])
    expect = -((math.log(0.7 + EPS) + 0.0) / 2 + (0.0 + 0.5 * math.log(0.1 + EPS)) / 2
               + (0.0 + 0.5 * math.log(0.7 + EPS)) / 2)
    assert losses.soft_ce(p, y).item() == pytest.approx(expect, rel=1e-9)


def test_hard_ce_uses_argmax_labels():
    p = _t([[0.6], [0.3], [0.1]])
    y = _t([[0.4], [0.35], [0.25]])  # soft label, argmax P
    assert losses.hard_ce(p, y).item() == pytest.approx(-math.log(0.6 + EPS))
    assert losses.soft_ce(p, y).item() != pytest.approx(losses.hard_ce(p, y).item())


def test_focal_with_class_weights_matches_hand_and_not_naive():
    p = _t([[0.6, 0.1], [0.3, 0.2], [0.1, 0.7]])
    y = _t([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    w, g = [2.0, 3.0, 0.5], 2.0
    # sample 1: CE = -log .6 ; p_t = .6 ; weighted CE = 2 * CE
    # sample 2: CE = -log .7 ; p_t = .7 ; weighted CE = .5 * CE
    ce1, ce2 = -math.log(0.6 + EPS), -math.log(0.7 + EPS)
    pt1, pt2 = math.exp(-ce1), math.exp(-ce2)
    expect = ((1 - pt1) ** g * 2.0 * ce1 + (1 - pt2) ** g * 0.5 * ce2) / 2
    got = losses.focal(p, y, gamma=g, class_weights=w).item()
    assert got == pytest.approx(expect, rel=1e-9)
    # the known bug: p_t from the *weighted* CE
    naive = ((1 - math.exp(-2.0 * ce1)) ** g * 2.0 * ce1 + (1 - math.exp(-0.5 * ce2)) ** g * 0.5 * ce2) / 2
    assert abs(got - naive) > 1e-3
    # gamma 0 and no weights: plain CE summed over classes, averaged over batch*time
    assert losses.focal(p, y, gamma=0.0).item() == pytest.approx((ce1 + ce2) / 2, rel=1e-9)


def test_kd_zero_when_student_equals_teacher():
    torch.manual_seed(0)
    p = torch.softmax(torch.randn(4, 3, 50), dim=1)
    assert losses.kd_term(p, p.clone(), temperature=4.0).item() == pytest.approx(0.0, abs=1e-12)
    q = torch.softmax(torch.randn(4, 3, 50), dim=1)
    assert losses.kd_term(q, p, temperature=4.0).item() > 0
    s = torch.sigmoid(torch.randn(4, 3, 50))
    assert losses.kd_term(s, s.clone(), multiclass=False).item() == pytest.approx(0.0, abs=1e-9)


def test_kd_by_hand_and_mixing():
    ps = _t([[0.5], [0.3], [0.2]]).float()
    pt = _t([[0.8], [0.1], [0.1]]).float()
    t = 2.0
    zs = torch.log(ps.squeeze() + EPS) / t
    zt = torch.log(pt.squeeze() + EPS) / t
    qs, qt = torch.softmax(zs, 0), torch.softmax(zt, 0)
    kl = float((qt * (qt.log() - qs.log())).sum())
    assert losses.kd_term(ps, pt, temperature=t).item() == pytest.approx(t * t * kl, rel=1e-4)
    d, k = torch.tensor(2.0), torch.tensor(4.0)
    assert losses.total_loss(d, k, 0.3).item() == pytest.approx(0.7 * 2 + 0.3 * 4)
    assert losses.total_loss(d, None, 0.3).item() == 2.0


def _peak(center: float, n: int = 400, sigma: float = 20.0, height: float = 1.0) -> torch.Tensor:
    """(1, 3, n) probabilities N, P, S with a Gaussian P peak at ``center`` and no S."""
    t = torch.arange(n, dtype=torch.float64)
    p = height * torch.exp(-0.5 * ((t - center) / sigma) ** 2)
    s = torch.zeros(n, dtype=torch.float64)
    return torch.stack([1 - p - s, p, s])[None]


def test_peak_term_is_off_by_default_and_zero_for_equal_curves():
    from seisforge.train.config import KDConfig

    kd = KDConfig()
    assert kd.l2_weight == 0 and kd.slope_weight == 0  # old configs train as before
    t = _peak(200.0)
    assert losses.peak_term(_peak(210.0), t, [1, 2]).item() == 0.0
    assert losses.peak_term(t, t, [1, 2], l2_weight=1.0, slope_weight=1.0).item() == 0.0


def test_slope_term_grows_with_the_peak_shift_and_ignores_other_channels():
    t = _peak(200.0)
    shifts = [0.0, 2.0, 5.0, 10.0, 20.0]
    slope = [losses.peak_term(_peak(200.0 + d), t, [1, 2], slope_weight=1.0, lag=10).item() for d in shifts]
    assert slope[0] == 0.0 and all(a < b for a, b in zip(slope, slope[1:]))
    # by hand: mean over the 2 phase channels and n - lag steps of the squared difference of 10-sample rises
    s = _peak(205.0)
    d = (s[0, 1, 10:] - s[0, 1, :-10]) - (t[0, 1, 10:] - t[0, 1, :-10])
    expect = float((d ** 2).sum()) / (2 * (400 - 10))
    assert losses.peak_term(s, t, [1, 2], slope_weight=1.0, lag=10).item() == pytest.approx(expect, rel=1e-12)
    # the noise channel (0) is not compared
    s_noise = s.clone()
    s_noise[:, 0] = 0.5
    assert losses.peak_term(s_noise, t, [1, 2], slope_weight=1.0).item() == pytest.approx(
        losses.peak_term(s, t, [1, 2], slope_weight=1.0).item())


def test_slope_term_sees_a_shift_that_the_kd_term_hardly_sees():
    """Against a 10 % lower but unmoved peak, the slope term weighs a peak moved by 8 samples (0.08 s)
    several times more than the KD term does (23x vs 6x): it is aimed at the argmax, which pick uses."""
    t = _peak(200.0)
    shifted, lower = _peak(208.0), _peak(200.0, height=0.9)
    kd_shift, kd_lower = losses.kd_term(shifted, t, 1.0).item(), losses.kd_term(lower, t, 1.0).item()
    sl_shift = losses.peak_term(shifted, t, [1, 2], slope_weight=1.0).item()
    sl_lower = losses.peak_term(lower, t, [1, 2], slope_weight=1.0).item()
    assert sl_shift / sl_lower > 3 * kd_shift / kd_lower


def test_l2_term_by_hand_and_bad_lag():
    t, s = _peak(200.0), _peak(200.0, height=0.5)
    expect = float(((s[0, 1:] - t[0, 1:]) ** 2).mean())
    assert losses.peak_term(s, t, [1, 2], l2_weight=2.0).item() == pytest.approx(2 * expect, rel=1e-12)
    with pytest.raises(ValueError, match="lag"):
        losses.peak_term(s, t, [1, 2], slope_weight=1.0, lag=0)


def test_argmax_term_compares_peak_positions_weighted_by_the_teachers_peak():
    t = _peak(200.0, height=0.6)
    terms = [losses.peak_term(_peak(200.0 + d, height=0.6), t, [1, 2], argmax_weight=1.0, beta=50.0).item()
             for d in (0.0, 3.0, 8.0, 20.0)]
    assert terms[0] == pytest.approx(0.0, abs=1e-12) and all(a < b for a, b in zip(terms, terms[1:]))
    # a scaled copy of the teacher peak in the same place costs less than the same peak moved by 8 samples
    same_place = losses.peak_term(_peak(200.0, height=0.5), t, [1, 2], argmax_weight=1.0).item()
    assert same_place < terms[2]
    # by hand for one channel: max_t(p_t) * KL(softmax(50 p_t) || softmax(50 p_s)), mean over the 2 channels
    s = _peak(208.0, height=0.6)
    qt, qs = torch.softmax(50 * t[0, 1], -1), torch.softmax(50 * s[0, 1], -1)
    kl_p = float((qt * (qt.log() - qs.log())).sum())
    assert terms[2] == pytest.approx(0.6 * kl_p / 2, rel=1e-9)  # the S channel is 0 in both: KL 0
    # a window where the teacher sees no arrival (max 0.01) weighs 60x less than one at 0.6
    quiet = losses.peak_term(_peak(208.0, height=0.01), _peak(200.0, height=0.01), [1, 2], argmax_weight=1.0,
                             beta=50.0 * 60).item()
    assert quiet == pytest.approx(terms[2] / 60, rel=1e-6)
    with pytest.raises(ValueError, match="beta"):
        losses.argmax_kl(s, t, 0.0)


def test_top_term_ignores_a_constant_offset_and_weighs_the_tops():
    """A student whose error is constant moves no argmax: 0. A ripple on the teacher's peak top costs
    far more than the same ripple where the teacher's curve is low; by hand for one lag."""
    t = _peak(200.0)
    assert losses.top_term(t + 0.05, t, [1, 2]).item() == pytest.approx(0.0, abs=1e-20)
    n = t.shape[-1]
    ripple = 0.01 * torch.tensor([(-1.0) ** i for i in range(n)], dtype=torch.float64)

    def bump(center):
        s = t.clone()
        win = (torch.arange(n) - center).abs() < 10
        s[0, 1, win] += ripple[win]
        return s

    on_top, on_flank = losses.top_term(bump(200), t, [1, 2]).item(), losses.top_term(bump(260), t, [1, 2]).item()
    assert on_top > 100 * on_flank
    s = bump(200)
    w = torch.minimum(t[0, 1:, 1:], t[0, 1:, :-1]) ** 2
    e = s[0, 1:] - t[0, 1:]
    expect = float((w * (e[:, 1:] - e[:, :-1]) ** 2).sum() / w.sum())
    assert losses.top_term(s, t, [1, 2], lags=(1,)).item() == pytest.approx(expect, rel=1e-12)
    with pytest.raises(ValueError, match="lag"):
        losses.top_term(s, t, [1, 2], lags=(0,))
