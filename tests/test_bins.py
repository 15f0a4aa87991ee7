"""The one definition of the distance, magnitude and SNR bins: edges, order, and its users agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seisforge.bench.picking import metrics as M
from seisforge.bench.report import bin_order
from seisforge.data.bins import DISTANCE, MAGNITUDE, SNR, Bins, interval_bins, ordered
from seisforge.data.manifest_columns import manifest_columns


def test_distance_edges_follow_the_docs():
    # docs/datasets.md and docs/metrics.md: local < 150 km, regional 150-1500 km, teleseismic > 1500 km
    d = np.array([0.0, 149.9, 150.0, 1500.0, 1500.1, np.inf, np.nan])
    assert list(DISTANCE.label(d)) == ["local", "local", "regional", "regional", "teleseismic", "teleseismic",
                                       "unknown"]


def test_magnitude_and_snr_intervals_are_closed_below():
    assert list(MAGNITUDE.label([0.99, 1.0, 1.99, 2.0, 3.0, 3.99, 4.0, np.nan])) == [
        "<1", "1-2", "1-2", "2-3", "3-4", "3-4", ">=4", "unknown"]
    assert list(SNR.label([-0.1, 0.0, 9.99, 10.0, 20.0, np.nan])) == [
        "<0 dB", "0-10 dB", "0-10 dB", "10-20 dB", ">=20 dB", "unknown"]
    assert list(SNR.label(pd.Series(["3", "x", None], dtype=object))) == ["0-10 dB", "unknown", "unknown"]


def test_manifest_and_benchmark_use_the_same_distance_bins():
    dist = [149.9, 150.0, 1500.0, 1500.1, np.nan]
    meta = pd.DataFrame({"trace_name": list("abcde"), "path_ep_distance_km": dist})
    cols, _ = manifest_columns(meta, "x")
    bench = M.binning(pd.DataFrame({"distance_km": dist}))["distance"]
    assert list(cols["distance_bin"]) == list(bench) == ["local", "regional", "regional", "teleseismic", "unknown"]


def test_interval_bins_names_and_edges():
    b = interval_bins([2, 4])
    assert b.names == ("<2", "[2,4)", ">=4")
    assert list(b.label([1.9, 2.0, 3.9, 4.0, np.nan])) == ["<2", "[2,4)", "[2,4)", ">=4", "unknown"]


def test_bins_checks_its_definition():
    with pytest.raises(ValueError):
        Bins((1.0, 2.0), ("a", "b"))
    with pytest.raises(ValueError):
        Bins((2.0, 1.0), ("a", "b", "c"))


def test_bins_are_ordered_numerically_not_as_text():
    assert ordered(["3-4", "unknown", "<1", "1-2", ">=4"], MAGNITUDE) == ["<1", "1-2", "3-4", ">=4", "unknown"]
    assert ordered(["10-20 dB", "<0 dB", "0-10 dB"], SNR) == ["<0 dB", "0-10 dB", "10-20 dB"]
    assert ordered(["b", "a"]) == ["a", "b"]
    frames = [pd.DataFrame({"by": ["magnitude"] * 4 + ["snr"] * 3 + ["dataset"] * 2,
                            "bin": ["2-3", "1-2", "<1", "3-4", "10-20 dB", "<0 dB", "0-10 dB", "z", "a"]})]
    assert bin_order(frames, "magnitude") == ["<1", "1-2", "2-3", "3-4"]
    assert bin_order(frames, "snr") == ["<0 dB", "0-10 dB", "10-20 dB"]
    assert bin_order(frames, "dataset") == ["a", "z"]
