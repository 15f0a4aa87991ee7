"""Wavefield (CTF) benchmark: scores equal to the official ``ctf4science`` scorer, and leaderboards."""

from seisforge.bench.wavefield.scores import (
    avg_score,
    compute_psd,
    e_scores,
    long_time_score,
    reconstruction_score,
    score_metrics,
    short_time_score,
)

__all__ = [
    "avg_score", "compute_psd", "e_scores", "long_time_score", "reconstruction_score", "score_metrics",
    "short_time_score",
]
