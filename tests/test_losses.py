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
