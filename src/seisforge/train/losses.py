"""Losses for phase pickers.

All functions take predictions and labels shaped (batch, classes, time). SeisBench pickers of the
PhaseNet family output **probabilities** (softmax over the class axis), not logits; the functions here
take probabilities and work in log space with a small ``eps``.

- :func:`soft_ce`: the vector cross-entropy SeisBench and the original PhaseNet train with,
  ``-mean_batch sum_class mean_time y log(p + eps)``. The default.
- :func:`hard_ce`: the same with argmax-hardened labels (kept only to reproduce the seed recipe).
- :func:`focal`: focal loss with class weights, where ``p_t`` comes from the **unweighted**
  cross-entropy and the class weights multiply the cross-entropy separately. (Computing ``p_t`` from
  the weighted CE - the naive form - distorts the focusing term for every weighted class.)
- :func:`kd_term`: ``alpha * T^2 * KL(softmax(z_t/T) || softmax(z_s/T))``. With probabilities as
  input we use ``z = log(p + eps)``: softmax is invariant to a per-time-step constant, so
  ``softmax(log p / T)`` is exactly the temperature-T distribution of a softmax model. For models
  with independent sigmoid channels (``multiclass=False``) the KL is taken per channel between
  Bernoulli distributions with logits ``log(p / (1 - p))``.
- :func:`peak_term`: an optional addition to the KD term aimed at *where* the phase curves peak
  (``loss.kd.l2_weight``, ``loss.kd.slope_weight``; both 0 by default, so older configs train as before).
  ``seisforge pick`` places a pick at the argmax of a triggered stretch of the P or S curve. The KL term
  weighs every time step by the class distribution, and near the top of a broad teacher peak (PhaseNet
  trained with sigma = 20-sample labels) a student curve that is a little lower on one flank and higher
  on the other costs almost nothing while its argmax moves by tens of samples. The squared error of the
  curves' ``lag``-sample differences (the slope; the argmax is where it changes sign) penalises exactly
  that tilt, and an L2 term on the probabilities their height (which decides whether a trigger fires).
  ``loss.kd.argmax_weight`` compares soft argmaxes (a softmax over time of ``beta`` times each curve).
- :func:`top_term` (``loss.kd.top_weight``): the shape of the student's error on the *tops* of the
  teacher's peaks. There the teacher's curve is jagged at the scale of a few samples and the pick is the
  highest spike of a plateau, so what moves a pick is how the error ``e = p_s - p_t`` *varies* along the
  top, not its mean (a constant offset moves no argmax). The term is the squared change of ``e`` over
  ``loss.kd.top_lags`` samples, weighted by the teacher's height squared and normalised by the weights,
  so windows without an arrival add nothing and the mean over the many flat samples does not dilute it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-5


def soft_ce(pred: torch.Tensor, target: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``-mean_batch sum_class mean_time y log(p + eps)``."""
    h = target * torch.log(pred + eps)
    return -h.mean(-1).sum(-1).mean()


def harden(target: torch.Tensor) -> torch.Tensor:
    """One-hot of the argmax over the class axis."""
    return F.one_hot(target.argmax(dim=1), target.shape[1]).permute(0, 2, 1).to(target.dtype)


def hard_ce(pred: torch.Tensor, target: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Cross-entropy against argmax-hardened labels (seed recipe; loses the Gaussian label shape)."""
    return soft_ce(pred, harden(target), eps)


def focal(
    pred: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, class_weights: list[float] | None = None,
    eps: float = EPS,
) -> torch.Tensor:
    """Focal loss per (batch, time) with ``p_t = exp(-CE_unweighted)``, weights applied separately."""
    logp = torch.log(pred + eps)
    ce = -(target * logp).sum(1)  # (B, T), unweighted
    p_t = torch.exp(-ce)
    if class_weights is not None:
        w = torch.as_tensor(class_weights, dtype=pred.dtype, device=pred.device).view(1, -1, 1)
        ce_w = -(w * target * logp).sum(1)
    else:
        ce_w = ce
    return ((1 - p_t) ** gamma * ce_w).mean()


def kd_term(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float = 4.0, multiclass: bool = True,
    eps: float = EPS,
) -> torch.Tensor:
    """``T^2 * KL(teacher_T || student_T)``, mean over batch and time (alpha is applied by the caller)."""
    t = float(temperature)
    if multiclass:
        log_s = F.log_softmax(torch.log(student + eps) / t, dim=1)
        log_t = F.log_softmax(torch.log(teacher + eps) / t, dim=1)
        kl = (log_t.exp() * (log_t - log_s)).sum(1)
    else:
        def logit(p):
            p = p.clamp(eps, 1 - eps)
            return torch.log(p / (1 - p)) / t

        ls, lt = logit(student), logit(teacher)
        ps, pt = torch.sigmoid(ls), torch.sigmoid(lt)
        kl = pt * (torch.log(pt + eps) - torch.log(ps + eps)) + (1 - pt) * (
            torch.log(1 - pt + eps) - torch.log(1 - ps + eps))
        kl = kl.sum(1)
    return t * t * kl.mean()


def peak_term(student: torch.Tensor, teacher: torch.Tensor, channels: list[int], l2_weight: float = 0.0,
              slope_weight: float = 0.0, lag: int = 10, argmax_weight: float = 0.0,
              beta: float = 50.0) -> torch.Tensor:
    """Peak-position terms on the phase ``channels``; 0 when every weight is 0.

    - ``l2_weight * MSE(p_s, p_t)``: the curves' height (whether a trigger fires).
    - ``slope_weight * MSE(D p_s, D p_t)`` with ``D p[t] = p[t + lag] - p[t]``: the curve's rise over
      ``lag`` samples (its slope times ``lag``; a difference rather than a per-sample derivative, whose
      values on a broad peak are too small to weigh). The argmax is where it changes sign.
    - ``argmax_weight * KL(q_t || q_s)`` with ``q = softmax over time of beta * p`` per window and channel
      (:func:`argmax_kl`): a soft argmax, concentrated on the top of the highest peak (samples within
      ``1 / beta`` of the maximum probability carry weight), so it compares *where* the peaks are,
      weighted by the teacher's maximum probability in the window (windows without an arrival count little).

    Means are over batch, channels and time (the KL: over batch and channels).
    """
    s, t = student[:, channels], teacher[:, channels]
    out = student.new_zeros(())
    if l2_weight:
        out = out + l2_weight * ((s - t) ** 2).mean()
    if slope_weight:
        if not 1 <= lag < s.shape[-1]:
            raise ValueError(f"slope lag must be in [1, {s.shape[-1]}), got {lag}")
        ds, dt = s[..., lag:] - s[..., :-lag], t[..., lag:] - t[..., :-lag]
        out = out + slope_weight * ((ds - dt) ** 2).mean()
    if argmax_weight:
        out = out + argmax_weight * argmax_kl(s, t, beta)
    return out


def top_term(student: torch.Tensor, teacher: torch.Tensor, channels: list[int],
             lags: tuple[int, ...] = (1, 4, 16)) -> torch.Tensor:
    """``sum_lag sum(w (e[t + lag] - e[t])^2) / sum(w)`` with ``e = p_s - p_t`` and
    ``w = min(p_t[t], p_t[t + lag])^2`` on the phase ``channels`` (see the module docstring)."""
    s, t = student[:, channels], teacher[:, channels].detach()
    e = s - t
    out = student.new_zeros(())
    for lag in lags:
        if not 1 <= lag < s.shape[-1]:
            raise ValueError(f"top lag must be in [1, {s.shape[-1]}), got {lag}")
        w = torch.minimum(t[..., lag:], t[..., :-lag]) ** 2
        de = e[..., lag:] - e[..., :-lag]
        out = out + (w * de ** 2).sum() / w.sum().clamp_min(1e-12)
    return out


def argmax_kl(student: torch.Tensor, teacher: torch.Tensor, beta: float) -> torch.Tensor:
    """``mean_(batch, channel) max_time(p_t) * KL(softmax_time(beta p_t) || softmax_time(beta p_s))``."""
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    log_t = F.log_softmax(beta * teacher, dim=-1)
    log_s = F.log_softmax(beta * student, dim=-1)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1)
    return (teacher.amax(-1).detach() * kl).mean()


def data_loss(kind: str, pred: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
              class_weights: list[float] | None = None) -> torch.Tensor:
    """The data term by name: ``soft_ce``, ``hard_ce`` or ``focal``."""
    if kind == "soft_ce":
        return soft_ce(pred, target)
    if kind == "hard_ce":
        return hard_ce(pred, target)
    if kind == "focal":
        return focal(pred, target, gamma=gamma, class_weights=class_weights)
    raise ValueError(f"unknown loss {kind!r}")


def total_loss(data: torch.Tensor, kd: torch.Tensor | None, alpha: float) -> torch.Tensor:
    """``(1 - alpha) * data + alpha * kd`` (just ``data`` without a teacher)."""
    if kd is None:
        return data
    return (1 - alpha) * data + alpha * kd
