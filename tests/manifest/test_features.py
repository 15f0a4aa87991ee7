"""Waveform features against analytic signals, and rebalancing on feature axes (seisforge.data.features)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seisforge.data.features import FeatureConfig, tectonic_regime, ts_minus_tp, waveform_features
from seisforge.data.manifest import ManifestConfig, manifest_from_metadata
from seisforge.data.rebalance import RebalanceConfig
from seisforge.data.synthetic import synthetic_metadata

SR = 100.0


def _trace(rng, p, s, f_p, f_s, polarity=1.0, noise=0.01, npts=6000):
    """Z: noise + a pure tone of f_p starting at P with the given first-motion sign; N/E: a tone of f_s after S."""
    t = np.arange(npts) / SR
    x = rng.normal(0, noise, (3, npts))
    after_p = (t >= p / SR)
    x[0] += polarity * after_p * np.sin(2 * np.pi * f_p * (t - p / SR))
    if np.isfinite(s):
        after_s = t >= s / SR
        for c in (1, 2):
            x[c] += after_s * np.sin(2 * np.pi * f_s * (t - s / SR) + c)
    return x


def test_features_against_analytic_signals():
    rng = np.random.default_rng(0)
    cases = [(1000, 1800, 5.0, 2.0, 1.0), (2000, 2550, 12.0, 3.5, -1.0), (1500, np.nan, 8.0, 1.0, 1.0)]
    waves = [_trace(rng, p, s, fp, fs, pol) for p, s, fp, fs, pol in cases]
    p = np.array([c[0] for c in cases], float)
    s = np.array([c[1] for c in cases], float)
    f = waveform_features(waves, p, s, np.full(3, SR), FeatureConfig())
    # a pure tone: dominant frequency within the 0.125 Hz grid, centroid near it
    assert f["p_dominant_freq_hz"].to_numpy() == pytest.approx([5.0, 12.0, 8.0], abs=0.15)
    assert f["p_spectral_centroid_hz"].to_numpy() == pytest.approx([5.0, 12.0, 8.0], rel=0.15)
    assert f["s_dominant_freq_hz"].to_numpy()[:2] == pytest.approx([2.0, 3.5], abs=0.15)
    assert np.isnan(f["s_dominant_freq_hz"].iloc[2])  # no S pick
    # the P window ends at S: 5.5 s after P in case 2 -> still 2 s; polarity signs
    assert list(f["p_polarity"]) == [1.0, -1.0, 1.0]
    assert (f["p_polarity_confidence"] > 0.9).all()
    np.testing.assert_allclose(ts_minus_tp(p, s, np.full(3, SR)), [8.0, 5.5, np.nan])


def test_unclear_onset_gives_unknown_polarity():
    rng = np.random.default_rng(1)
    w = [_trace(rng, 1000, 1800, 5.0, 2.0, polarity=0.02, noise=0.05)]  # onset below the noise
    f = waveform_features(w, np.array([1000.0]), np.array([1800.0]), np.array([SR]), FeatureConfig())
    assert np.isnan(f["p_polarity"].iloc[0]) and f["p_polarity_confidence"].iloc[0] < 0.5
    # P too close to the trace start: no noise window, unknown
    f = waveform_features(w, np.array([20.0]), np.array([1800.0]), np.array([SR]), FeatureConfig())
    assert np.isnan(f["p_polarity"].iloc[0]) and np.isnan(f["p_polarity_confidence"].iloc[0])


def test_tectonic_regime_sources():
    meta = pd.DataFrame({"source_latitude_deg": [46.0, -20.0, np.nan, 10.0],
                         "source_longitude_deg": [8.0, -70.0, np.nan, 10.0],
                         "source_tectonic_regime": ["", "", "", "rift"]})
    cfg = FeatureConfig(regime_by_dataset={"ETHZ": "continental_collision"},
                        regime_regions=[{"lat": [-30, -15], "lon": [-75, -65], "regime": "subduction"}])
    assert list(tectonic_regime(meta, "ETHZ", cfg)) == ["continental_collision", "subduction",
                                                        "continental_collision", "rift"]
    assert list(tectonic_regime(meta, "other", cfg)) == ["", "subduction", "", "rift"]


@pytest.fixture(scope="module")
def feature_metas():
    """Synthetic metadata with regimes and S picks; ts_minus_tp comes from the picks."""
    out = []
    for k, regime in enumerate(("subduction", "rift", "")):
        m = synthetic_metadata(5000, f"ds{k}", seed=k)
        if regime:
            m["source_tectonic_regime"] = regime
        out.append((f"ds{k}", m, f"synthetic:{k}"))
    return out


def _fractions(df, col):
    q = df[df["category"] == "earthquake"]
    return (q["weight"].groupby(q[col]).sum() / q["weight"].sum()).to_dict()


def test_rebalancing_on_feature_axes_reaches_targets(feature_metas):
    cfg = ManifestConfig()
    cfg.rebalance = RebalanceConfig(mode="subsample", quantiles={"ts_minus_tp": 4},
                                    targets={"ts_minus_tp": {"q1": 0.1, "q2": 0.2, "q3": 0.3, "q4": 0.3, "unknown": 0.1},
                                             "tectonic_regime": {"subduction": 0.5, "rift": 0.3, "unknown": 0.2}})
    df, report = manifest_from_metadata(feature_metas, cfg)
    reb = report["rebalance"]
    edges = reb["quantile_edges"]["ts_minus_tp"]
    assert len(edges) == 3
    for axis, rows in reb["targets"].items():
        for b, r in rows.items():
            assert r["within_tolerance"], (axis, b, r)
    q = df[df["category"] == "earthquake"]
    got = _fractions(df.assign(regime=np.where(df["tectonic_regime"] == "", "unknown", df["tectonic_regime"])), "regime")
    assert got == pytest.approx({"subduction": 0.5, "rift": 0.3, "unknown": 0.2}, abs=0.02)
    # unknown ts-tp (no S pick) is counted as its own bin, never filled in
    assert abs(np.isnan(q["ts_minus_tp_s"]).mean() - 0.1) <= 0.02
    # weight mode on explicit edges and a polarity axis whose values are all unknown (metadata-only build)
    cfg.rebalance = RebalanceConfig(mode="weight", edges={"ts_minus_tp": [10.0, 60.0]},
                                    targets={"ts_minus_tp": {"<10": 0.4, "[10,60)": 0.3, ">=60": 0.2, "unknown": 0.1},
                                             "p_polarity": {"up": 0.5, "down": 0.5}})
    df, report = manifest_from_metadata(feature_metas, cfg)
    assert report["dropped"]["rebalance_untargeted_bin:p_polarity=unknown"] > 0
    assert report["rebalance"]["targets"]["p_polarity"]["up"]["reason"] == "no traces in this bin"


def test_manifest_carries_feature_columns(tmp_path, feature_metas):
    from seisforge.data.manifest_columns import MANIFEST_COLUMNS
    from seisforge.data.manifest_io import read_manifest, write_manifest

    df, report = manifest_from_metadata(feature_metas[:1], ManifestConfig())
    assert list(df.columns) == MANIFEST_COLUMNS
    paths = write_manifest(df, report, tmp_path / "m.parquet")
    back = read_manifest(paths["parquet"])
    assert (back["tectonic_regime"] == "subduction").all()
    ok = np.isfinite(back["ts_minus_tp_s"])
    assert ok.any() and (back.loc[ok, "ts_minus_tp_s"] > 0).all()
