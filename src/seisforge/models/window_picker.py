"""The per-window outputs every benchmark model returns (see docs/metrics.md)."""

from __future__ import annotations

import numpy as np

SCORE_KEYS = ("score_detection", "score_p_or_s", "p_prob", "s_prob")


def empty_outputs(n: int) -> dict[str, np.ndarray]:
    """NaN scores and zero local onsets for ``n`` windows, to be filled in by a model."""
    out = {k: np.full(n, np.nan) for k in SCORE_KEYS}
    out["p_local"] = np.zeros(n, dtype=np.int64)
    out["s_local"] = np.zeros(n, dtype=np.int64)
    return out
