"""Targets, predict, score and leaderboard, including the bad-input cases."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import event_trace, names_by_original, write_dataset

from seisforge.bench.picking.predict import predict
from seisforge.bench.picking.score import score
from seisforge.bench.picking.targets import generate_targets
from seisforge.cli import main
from seisforge.data.targets_io import load_targets
from seisforge.errors import ConfigError, DataError
from seisforge.models.loaded import LoadedModel
from seisforge.models.registry import load_model
from seisforge.models.seisbench_pickers import resolve_weight_pair


@pytest.fixture(scope="module")
def synth_bench(tmp_path_factory):
    """A small synthetic dataset with targets and STA/LTA predictions."""
    from seisforge.data.synthetic import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("bench")
    synthesize(SynthConfig(events=40, noise_traces=16, seed=2), root / "data")
    generate_targets(root / "data", root / "targets", seed=42)
    return root


def test_targets_follow_pick_benchmark_rules(synth_bench):
    t = load_targets(synth_bench / "targets")
    t1, t23 = t["1"], t["23"]
    assert {"trace_name", "trace_idx", "trace_split", "sampling_rate", "start_sample", "end_sample",
            "trace_type", "source_id", "trace_chunk"} <= set(t1.columns)
    assert set(t1["trace_split"]) == {"dev", "test"} and set(t1["trace_type"]) == {"earthquake", "noise"}
    assert ((t1["end_sample"] - t1["start_sample"]) <= 3000).all()
    rel = t23["phase_onset"] - t23["start_sample"]
    assert (rel >= 50).all() and (t23["end_sample"] - t23["phase_onset"] >= 50).all()
    assert rel.std() > 100  # random position, not centred
    assert (t23["end_sample"] - t23["start_sample"] == 1000).all()
    # isolation: no other target arrival within the window +-0.5 s (second events are not targets by
    # default, as in pick-benchmark's phase_dict)
    meta = pd.read_csv(synth_bench / "data/metadata.csv")
    cols = [c for c in meta.columns if c.endswith("_arrival_sample") and c[6:8] not in ("p2", "s2")]
    for row in t23.itertuples():
        arr = meta.loc[meta["trace_name"] == row.trace_name, cols].to_numpy(dtype=float).ravel()
        arr = arr[np.isfinite(arr) & (np.abs(arr - row.phase_onset) > 1e-6)]
        assert not np.any((arr > row.start_sample - 50) & (arr < row.end_sample + 50))


def test_targets_deterministic(synth_bench, tmp_path):
    generate_targets(synth_bench / "data", tmp_path / "t2", seed=42)
    a = pd.read_csv(synth_bench / "targets/task23.csv")
    b = pd.read_csv(tmp_path / "t2/task23.csv")
    pd.testing.assert_frame_equal(a, b)


def test_predict_score_leaderboard_cli(synth_bench, tmp_path):
    pred = tmp_path / "pred"
    assert main(["bench", "predict", "--dataset", str(synth_bench / "data"), "--targets",
                 str(synth_bench / "targets"), "--model", "stalta", "--out", str(pred)]) == 0
    for f in ("dev_task1.csv", "test_task1.csv", "dev_task23.csv", "test_task23.csv", "run_report.json"):
        assert (pred / f).is_file()
    df = pd.read_csv(pred / "test_task23.csv")
    for col in ("score_detection", "score_p_or_s", "p_sample_pred", "s_sample_pred", "p_prob", "s_prob"):
        assert df[col].notna().all()
    assert ((df["p_sample_pred"] >= df["start_sample"]) & (df["p_sample_pred"] < df["end_sample"])).all()
    assert main(["bench", "score", str(pred), "--bootstrap", "50"]) == 0
    m = json.loads((pred / "metrics.json").read_text())
    assert m["thresholds"]["chosen_on"] == "dev"
    assert m["metrics"]["test_det_auc"] > 0.8
    lo, hi = m["ci95"]["test_P_mae_s"]
    assert lo <= m["metrics"]["test_P_mae_s"] <= hi
    assert {r["by"] for r in m["bins"]} == {"distance", "magnitude", "snr", "dataset"}
    out = tmp_path / "lb"
    assert main(["bench", "leaderboard", str(pred), "--out", str(out)]) == 0
    for f in ("leaderboard.md", "leaderboard.csv", "recall_vs_threshold.png", "residual_histograms.png",
              "per_bin_metrics.png"):
        assert (out / f).stat().st_size > 0


def test_published_targets_accepted(synth_bench, tmp_path):
    """pick-benchmark files lack trace_chunk/source_id/trace_dataset: predict fills them in."""
    pub = tmp_path / "pub"
    pub.mkdir()
    for task in ("1", "23"):
        df = pd.read_csv(synth_bench / f"targets/task{task}.csv")
        df.drop(columns=["trace_chunk", "source_id", "trace_dataset"]).to_csv(pub / f"task{task}.csv", index=False)
    pred = tmp_path / "pred"
    predict(synth_bench / "data", pub, "stalta", pred)
    df = pd.read_csv(pred / "test_task23.csv", dtype={"source_id": str})
    assert df["source_id"].str.startswith("syn").all()


def _bad_dataset(tmp_path):
    rng = np.random.default_rng(0)
    traces = []
    good = event_trace("good", rng)
    traces.append(good)
    m, x = event_trace("hasnan", rng)
    x[0, 100] = np.nan
    traces.append((m, x))
    m, x = event_trace("inf", rng)
    x[1, 10] = np.inf
    traces.append((m, x))
    m, x = event_trace("dead", rng)
    x[1:] = 0
    traces.append((m, x))
    m, x = event_trace("short", rng, npts=1500, p=600, s=900)
    traces.append((m, x))
    return write_dataset(tmp_path / "bad", traces)


def test_bad_inputs_are_counted(tmp_path):
    ds = _bad_dataset(tmp_path)
    tdir = tmp_path / "t"
    tdir.mkdir()
    rows = []
    names = names_by_original(ds)
    for name in ("good", "hasnan", "inf", "dead", "short", "ghost"):
        bucket = names.get(name, "bucket9$9,:3,:6000")
        p = 600 if name == "short" else 2500
        rows.append({"trace_name": bucket, "trace_idx": 0, "trace_split": "test", "sampling_rate": 100.0,
                     "start_sample": p - 300, "end_sample": p + 700, "phase_label": "P",
                     "full_phase_label": "p", "phase_onset": p})
    rows.append({**rows[0], "start_sample": 5500, "end_sample": 6500, "phase_onset": 5600})  # beyond trace end
    pd.DataFrame(rows).to_csv(tdir / "task23.csv", index=False)
    rep = predict(ds, tdir, "stalta", tmp_path / "p", splits=("test",)).to_dict()
    assert rep["skipped"] == {"target_trace_not_found": 1, "nonfinite_samples": 2, "window_beyond_trace_end": 1}
    assert rep["handled"]["dead_or_missing_component"] == 1
    assert rep["handled"]["trace_shorter_than_model_window_padded"] == 1
    assert rep["processed"] == 3
    assert len(pd.read_csv(tmp_path / "p/test_task23.csv")) == 3


def test_missing_component_and_resampling(tmp_path, shared):
    rng = np.random.default_rng(1)
    m, x = event_trace("zonly", rng, npts=3000, p=1000, s=1400, sr=50.0, n_comp=1)
    ds = write_dataset(tmp_path / "z", [(m, x)], component_order="Z")
    tdir = tmp_path / "t"
    tdir.mkdir()
    pd.DataFrame([{"trace_name": names_by_original(ds)["zonly"], "trace_split": "test", "sampling_rate": 50.0,
                   "start_sample": 800, "end_sample": 1300, "phase_label": "P", "full_phase_label": "p",
                   "phase_onset": 1000}]).to_csv(tdir / "task23.csv", index=False)
    model = load_model("seisbench:PhaseNetLight", weights=shared / "models/phasenetlight_ethz/ethz")
    rep = predict(ds, tdir, "seisbench:PhaseNetLight", tmp_path / "p", model=model, splits=("test",)).to_dict()
    assert rep["handled"]["dead_or_missing_component"] == 1
    assert rep["handled"]["trace_resampled_to_100Hz"] == 1
    assert rep["handled"]["targets_rescaled_50_to_100Hz"] == 1
    df = pd.read_csv(tmp_path / "p/test_task23.csv")
    assert df["phase_onset"].iloc[0] == 2000 and df["sampling_rate"].iloc[0] == 100


def test_duplicate_names_need_chunk(tmp_path, shared):
    tdir = tmp_path / "t"
    tdir.mkdir()
    pd.DataFrame([{"trace_name": "bucket0$0,:3,:1200", "trace_split": "test", "sampling_rate": 100.0,
                   "start_sample": 0, "end_sample": 3000, "trace_type": "noise"}]).to_csv(tdir / "task1.csv", index=False)
    with pytest.raises(DataError, match="trace names repeat across chunks"):
        predict(shared / "data/seisbench_chunked_dummy", tdir, "stalta", tmp_path / "p", splits=("test",))


def test_weights_errors(tmp_path):
    with pytest.raises(DataError, match="weights not found"):
        resolve_weight_pair(tmp_path / "nothing")
    with pytest.raises(DataError, match="weights not found"):
        load_model("seisbench:PhaseNet", weights=tmp_path / "nothing")
    with pytest.raises(ConfigError, match="unknown SeisBench model class"):
        load_model("seisbench:NoSuchNet", weights=tmp_path / "nothing")
    assert main(["bench", "predict", "--dataset", str(tmp_path), "--targets", str(tmp_path), "--model",
                 "seisbench:PhaseNet", "--weights", str(tmp_path / "x"), "--out", str(tmp_path / "o")]) == 2


def test_weight_pair_forms(shared):
    d = shared / "models/phasenetlight_ethz"
    for form in (d, d / "ethz", d / "ethz.pt.v2", d / "ethz.json.v2"):
        prefix, ver = resolve_weight_pair(form)
        assert prefix == d / "ethz" and ver == "2"


def test_score_needs_predictions(tmp_path):
    with pytest.raises(DataError, match="no"):
        score(tmp_path)


def test_fast_path_equals_seisbench_generator(synth_bench, tmp_path):
    """The preloaded, vectorised windowing gives the same predictions as SeisBench's SteeredGenerator."""
    import seisbench.models as sbm
    import torch

    torch.manual_seed(0)
    model = LoadedModel(sbm.PhaseNet(norm="peak").eval(), source="random-init", spec="seisbench:PhaseNet")
    a = predict(synth_bench / "data", synth_bench / "targets", "seisbench:PhaseNet", tmp_path / "fast", model=model)
    b = predict(synth_bench / "data", synth_bench / "targets", "seisbench:PhaseNet", tmp_path / "ref", model=model,
                preload=False)
    assert a.processed == b.processed > 0
    for f in ("dev_task1.csv", "test_task23.csv"):
        fa, fb = pd.read_csv(tmp_path / "fast" / f), pd.read_csv(tmp_path / "ref" / f)
        assert (fa["p_sample_pred"] == fb["p_sample_pred"]).all() and (fa["s_sample_pred"] == fb["s_sample_pred"]).all()
        np.testing.assert_allclose(fa["p_prob"], fb["p_prob"], atol=1e-5)
        np.testing.assert_allclose(fa["score_detection"], fb["score_detection"], atol=1e-5)
