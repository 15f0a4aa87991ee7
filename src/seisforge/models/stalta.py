"""Classical baseline: STA/LTA detection with an AIC or Baer-Kradolfer onset (ObsPy's trigger module).

For each input window (3 components, ZNE) and its evaluation borders it returns the same quantities a
deep picker gives the benchmark:

- ``p_prob``: squashed peak of the classic STA/LTA ratio on Z, ``1 - 1/max(r, 1)`` (0 for no change,
  -> 1 for strong onsets). It is a score, not a calibrated probability; thresholds are tuned on dev.
- ``s_prob``: the same on the horizontals (the larger of N and E).
- onsets: AIC (``obspy.signal.trigger.aic_simple``) minimum in the 2 s before the STA/LTA peak, or
  ``obspy.signal.trigger.pk_baer`` on that segment when ``onset="baer"``.
"""

from __future__ import annotations

import numpy as np
from obspy.signal.filter import bandpass
from obspy.signal.trigger import aic_simple, classic_sta_lta, pk_baer

from seisforge.errors import ConfigError
from seisforge.models.window_picker import empty_outputs


def onset_sample(x: np.ndarray, peak: int, lo: int, fs: float, method: str = "aic") -> int:
    """Onset sample of the arrival whose STA/LTA ratio rose at ``peak`` in the filtered trace ``x``.

    ``aic``: the minimum of ObsPy's ``aic_simple`` in the 2 s before ``peak`` (not before ``lo``);
    ``baer``: ObsPy's ``pk_baer`` on the 4 s before to 1 s after ``peak``. Falls back to ``peak``.
    """
    if method == "aic":
        seg_start = max(lo, peak - int(2 * fs))
        seg = x[seg_start:peak + 1]
        if len(seg) < 10 or not np.any(seg):
            return peak
        return seg_start + int(np.argmin(aic_simple(seg)[1:-1]) + 1)
    # Baer-Kradolfer: needs a noise lead-in (preset) before the onset
    seg_start = max(0, peak - int(4 * fs))
    seg = x[seg_start:peak + int(fs)]
    preset = min(int(1.5 * fs), max(len(seg) // 3, 1))
    if len(seg) < 3 * preset or not np.any(seg):
        return peak
    p_pick, _ = pk_baer(seg.astype(np.float32), fs, int(0.2 * fs), int(0.6 * fs), 7.0, 12.0, preset, int(fs))
    return seg_start + int(p_pick) if 0 < p_pick < len(seg) else peak


class StaLtaPicker:
    """STA/LTA + AIC/Baer picker working on benchmark windows.

    Parameters
    ----------
    onset
        ``"aic"`` or ``"baer"``.
    sampling_rate
        Rate the windows are given at (Hz).
    sta_s, lta_s
        Short and long window lengths (s).
    freqmin, freqmax
        Band-pass corners (Hz) applied before the ratio.
    """

    name = "stalta"
    labels = "PSN"

    def __init__(
        self, onset: str = "aic", sampling_rate: float = 100.0, sta_s: float = 0.5, lta_s: float = 5.0,
        freqmin: float = 1.0, freqmax: float = 20.0,
    ):
        if onset not in ("aic", "baer"):
            raise ConfigError(f"stalta onset must be aic or baer, got {onset!r}")
        self.onset = onset
        self.sampling_rate = sampling_rate
        self.in_samples = int(30 * sampling_rate) + 1
        self.component_order = "ZNE"
        self.norm = "peak"
        self.sta_s, self.lta_s = sta_s, lta_s
        self.sta, self.lta = int(sta_s * sampling_rate), int(lta_s * sampling_rate)
        self.freqmin, self.freqmax = freqmin, freqmax
        self.version = f"stalta-{onset}-sta{sta_s}-lta{lta_s}-bp{freqmin}-{freqmax}"

    def _onset(self, x: np.ndarray, peak: int, lo: int) -> int:
        return onset_sample(x, peak, lo, self.sampling_rate, self.onset)

    @staticmethod
    def resample(stream, sampling_rate: float, zerophase: bool = True) -> None:
        """Resample ``stream`` in place with SeisBench's rule (what ``pick``'s clean-up calls on a model)."""
        from seisbench.models import WaveformModel

        WaveformModel.resample(stream, sampling_rate, zerophase=zerophase)

    def window_outputs(self, x: np.ndarray, borders: np.ndarray) -> dict[str, np.ndarray]:
        """Benchmark outputs for a batch ``x`` (N, 3, T) with local borders (N, 2)."""
        n = len(x)
        out = empty_outputs(n)
        for i in range(n):
            s, e = int(borders[i][0]), int(borders[i][1])
            ratios, filtered = [], []
            for c in range(3):
                tr = x[i, c].astype(np.float64)
                if np.any(tr):
                    tr = bandpass(tr - tr.mean(), self.freqmin, self.freqmax, self.sampling_rate, zerophase=True)
                    r = classic_sta_lta(tr, self.sta, self.lta)
                else:
                    r = np.zeros_like(tr)
                ratios.append(r)
                filtered.append(tr)
            rz = ratios[0][s:e]
            hc = 1 if ratios[1][s:e].max(initial=0) >= ratios[2][s:e].max(initial=0) else 2
            rh = ratios[hc][s:e]
            pz = int(np.argmax(rz)) if len(rz) else 0
            ph = int(np.argmax(rh)) if len(rh) else 0
            p_prob = 1 - 1 / max(float(rz.max(initial=0)), 1.0)
            s_prob = 1 - 1 / max(float(rh.max(initial=0)), 1.0)
            out["p_local"][i] = self._onset(filtered[0], s + pz, s) - s
            out["s_local"][i] = self._onset(filtered[hc], s + ph, s) - s
            out["p_prob"][i], out["s_prob"][i] = p_prob, s_prob
            out["score_detection"][i] = max(p_prob, s_prob)
            out["score_p_or_s"][i] = p_prob / s_prob if s_prob > 0 else np.inf
        return out
