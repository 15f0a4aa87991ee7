"""Continuous STA/LTA picking: what ``seisforge pick --model stalta[:aic|:baer]`` runs on each station-day.

The benchmark's :class:`~seisforge.models.stalta.StaLtaPicker` scores 30 s windows; a continuous archive
needs triggers over the whole day instead. This picker has the interface the pick runner uses of
:class:`~seisforge.deploy.engine.FastPicker` (``blocks`` -> ``annotate`` -> ``picks``, ``stats``,
``backend``, ``precision``, ``model``), so ``pick`` handles units, resume, Ray and storage the same way.
The signal processing is ObsPy's (``bandpass``, ``classic_sta_lta``, ``trigger_onset``, ``aic_simple``
/ ``pk_baer``); what is written here is only how they are combined, which no library does for 3-C data:

1. Each continuous piece of each component (gaps split pieces) is demeaned, band-passed
   (``freqmin``-``freqmax``, zero phase) and turned into the classic STA/LTA ratio (``sta_s``,
   ``lta_s``: the benchmark picker's settings).
2. Triggers: ``trigger_onset`` with on = the smaller phase threshold's ratio, off = ``OFF_RATIO``.
3. Triggers of one instrument whose onsets lie within ``COINCIDENCE_S`` are one arrival. Its onset is the
   AIC (or Baer) onset of its strongest trigger, searched in the 2 s before that trigger's ratio peak
   within its first ``COINCIDENCE_S``.
4. Phase by polarisation: **P** when the vertical peak amplitude in the ``COINCIDENCE_S`` after the onset
   is at least the horizontal vector's (P arrives steeply, mostly on Z), else **S**. Where Z or both
   horizontals are missing or flat, the component decides (Z: P, horizontals: S).
5. Score (``peak_value``) = ``1 - 1/r`` for the largest ratio ``r`` of the arrival's triggers, the scale
   of the benchmark picker's ``p_prob``/``s_prob``; the arrival is kept when its score reaches its
   phase's threshold (``--threshold-P``/``--threshold-S``, default :data:`DEFAULT_THRESHOLD` = ratio 4).

A pick's ``peak_time`` is the onset, ``start_time``/``end_time`` the trigger's on and off times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import obspy

from seisforge.deploy.triggers import Pick
from seisforge.errors import ConfigError

DEFAULT_THRESHOLD = 0.75  # score 1 - 1/r: STA/LTA ratio 4
OFF_RATIO = 1.5
COINCIDENCE_S = 1.0


@dataclass
class Piece:
    """One continuous, filtered piece of one component of one instrument (a "block" for the runner)."""

    trace_id: str  # NET.STA.LOC
    component: str  # Z, N or E (1/2 read as N/E)
    start_time: obspy.UTCDateTime
    sampling_rate: float
    data: np.ndarray  # band-passed samples
    ratio: np.ndarray = field(default_factory=lambda: np.zeros(0))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))  # [0] if long enough

    def amplitude(self, t: obspy.UTCDateTime, seconds: float) -> float | None:
        """Peak absolute amplitude in ``[t, t + seconds]``, or None when this piece does not cover ``t``."""
        i = int(round((t - self.start_time) * self.sampling_rate))
        if i < 0 or i >= len(self.data) or not np.any(self.data):
            return None
        return float(np.abs(self.data[i:i + max(1, int(seconds * self.sampling_rate))]).max())


@dataclass
class _Trigger:
    piece: Piece
    onset: obspy.UTCDateTime
    on: obspy.UTCDateTime
    off: obspy.UTCDateTime
    score: float


class StaLtaStreamPicker:
    """STA/LTA picker of continuous streams with the pick runner's picker interface (module docstring).

    Parameters
    ----------
    model
        The :class:`~seisforge.models.stalta.StaLtaPicker` the ``stalta`` spec loads (onset method,
        STA/LTA lengths, band).
    P_threshold, S_threshold
        Score thresholds per phase (``1 - 1/ratio``); None: :data:`DEFAULT_THRESHOLD`.
    **window_options
        ``pick``'s window options; none applies to continuous STA/LTA, so giving one is an error
        (``strict`` is accepted: pieces are per component anyway).
    """

    backend = "obspy"
    precision = "fp64"
    phases = ("P", "S")

    def __init__(self, model: Any, P_threshold: float | None = None, S_threshold: float | None = None,
                 **window_options: Any) -> None:
        bad = sorted(k for k, v in window_options.items() if v is not None and k != "strict")
        if bad:
            raise ConfigError(f"{', '.join(bad)} do not apply to continuous STA/LTA picking")
        self.model = model
        self.thresholds = {"P": DEFAULT_THRESHOLD if P_threshold is None else float(P_threshold),
                           "S": DEFAULT_THRESHOLD if S_threshold is None else float(S_threshold)}
        for phase, thr in self.thresholds.items():
            if not 0.0 < thr < 1.0:
                raise ConfigError(f"STA/LTA {phase} threshold must be in (0, 1) (score 1 - 1/ratio), got {thr}")
        self.stats: dict[str, Any] = {"windows": 0, "refined_windows": 0, "max_bf16_error": 0.0, "fallbacks": 0}

    def threshold(self, phase: str) -> float:
        """Score threshold of ``phase``."""
        return self.thresholds[phase]

    def blocks(self, stream: obspy.Stream) -> list[Piece]:
        """Continuous pieces of each component, demeaned and band-passed (the input is not changed)."""
        from obspy.signal.filter import bandpass

        st = stream.copy()
        st.merge(-1)
        pieces = []
        for tr in st.split():  # masked gaps -> separate traces
            comp = {"1": "N", "2": "E"}.get(tr.stats.channel[-1:], tr.stats.channel[-1:])
            if comp not in "ZNE":
                continue
            fs = tr.stats.sampling_rate
            x = tr.data.astype(np.float64)
            n_lta = int(self.model.lta_s * fs)
            if len(x) > 3 * n_lta and np.any(x - x[0]):
                x = bandpass(x - x.mean(), self.model.freqmin, min(self.model.freqmax, 0.45 * fs), fs,
                             zerophase=True)
            offsets = np.array([0], dtype=np.intp) if len(x) > 3 * n_lta else np.zeros(0, dtype=np.intp)
            pieces.append(Piece(tr.id.rsplit(".", 1)[0], comp, tr.stats.starttime, fs, x, offsets=offsets))
        return pieces

    def annotate(self, blocks: list[Piece]) -> list[Piece]:
        """The STA/LTA ratio of every piece long enough for it (flat pieces get none)."""
        from obspy.signal.trigger import classic_sta_lta

        out = []
        for p in blocks:
            if len(p.offsets) and np.any(p.data):
                p.ratio = classic_sta_lta(p.data, int(self.model.sta_s * p.sampling_rate),
                                          int(self.model.lta_s * p.sampling_rate))
                p.ratio[: int(self.model.lta_s * p.sampling_rate)] = 0.0  # LTA not yet filled
                out.append(p)
        self.stats["windows"] += len(out)
        return out

    def picks(self, annotations: list[Piece]) -> list[Pick]:
        """Arrivals (module docstring, steps 2-5) of all pieces, sorted like ``FastPicker.picks``."""
        picks: list[Pick] = []
        by_instrument: dict[str, list[Piece]] = {}
        for p in annotations:
            by_instrument.setdefault(p.trace_id, []).append(p)
        for trace_id, pieces in by_instrument.items():
            for group in _coincident(sorted((t for p in pieces for t in self._triggers(p)),
                                            key=lambda t: t.onset.ns)):
                phase = _phase(group, pieces)
                score = max(t.score for t in group)
                if score >= self.thresholds[phase]:
                    best = max(group, key=lambda t: t.score)
                    picks.append(Pick(trace_id, phase, best.onset, score, min(t.on for t in group),
                                      max(t.off for t in group)))
        picks.sort(key=lambda p: (p.trace_id, p.peak_time.ns, p.phase))
        return picks

    def _triggers(self, p: Piece) -> list[_Trigger]:
        from obspy.signal.trigger import trigger_onset

        from seisforge.models.stalta import onset_sample

        on_ratio = 1.0 / (1.0 - min(self.thresholds.values()))
        out = []
        for a, b in trigger_onset(p.ratio, on_ratio, OFF_RATIO):
            # the onset is searched before the ratio's peak in the first second of the trigger, so that
            # the AIC segment holds the arrival's first motions (the on-sample can be right at the onset)
            peak = int(a) + int(np.argmax(p.ratio[a:min(b, a + int(COINCIDENCE_S * p.sampling_rate)) + 1]))
            onset = onset_sample(p.data, peak, 0, p.sampling_rate, self.model.onset)
            r = float(p.ratio[a:b + 1].max())
            out.append(_Trigger(p, p.start_time + onset / p.sampling_rate, p.start_time + a / p.sampling_rate,
                                p.start_time + b / p.sampling_rate, 1.0 - 1.0 / max(r, 1.0)))
        return out


def _coincident(triggers: list[_Trigger]) -> list[list[_Trigger]]:
    """Triggers (sorted by onset) grouped into arrivals: onsets within ``COINCIDENCE_S`` of the group's first."""
    groups: list[list[_Trigger]] = []
    for t in triggers:
        if groups and t.onset - groups[-1][0].onset <= COINCIDENCE_S:
            groups[-1].append(t)
        else:
            groups.append([t])
    return groups


def _phase(group: list[_Trigger], pieces: list[Piece]) -> str:
    """P or S of one arrival: vertical vs horizontal-vector amplitude after the onset (module docstring)."""
    onset = min(t.onset for t in group)
    amp: dict[str, float] = {}
    for p in pieces:
        a = p.amplitude(onset, COINCIDENCE_S)
        if a is not None:
            amp[p.component] = max(amp.get(p.component, 0.0), a)
    horizontal = [amp[c] for c in "NE" if c in amp]
    if "Z" in amp and horizontal:
        return "P" if amp["Z"] >= float(np.hypot(*horizontal)) else "S"
    return "P" if any(t.piece.component == "Z" for t in group) else "S"
