"""``bench targets --noise-after-events``: noise windows after the last label + a guard (issue 17, NCEDC)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import label_table_dataset, names_by_original

from seisforge.bench.picking import calibration as C
from seisforge.bench.picking.targets import generate_targets
from seisforge.cli import main
from seisforge.errors import ConfigError

NAN = np.nan
#: (n_samples, P, S, second P, second S, split); the comment says what the post-event option must do
ROWS = [
    (9001, 3000.0, 3300.0, NAN, NAN, "dev"),    # 0: window after 3300 + guard
    (9001, 3000.0, 4100.0, NAN, NAN, "test"),   # 1: window after 4100 + guard
    (9001, 3000.0, 5000.0, NAN, NAN, "test"),   # 2: 6500 + 3000 > 9001: does not fit
    (9001, 3000.0, NAN, NAN, NAN, "dev"),       # 3: no S label: none (the S coda could be in it)
    (9001, NAN, NAN, NAN, NAN, "dev"),          # 4: noise trace: pick-benchmark noise window only
    (9001, 1000.0, 1500.0, 2000.0, 2500.0, "dev"),  # 5: guard after the second event's S (2500)
    (9001, 3000.0, 3300.0, 9500.0, NAN, "test"),  # 6: flagged pick (second P outside): no noise window
    (12001, 6000.0, 6200.0, NAN, NAN, "dev"),   # 7: pre-event and post-event windows
]
GUARD_S = 15.0


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    root = tmp_path_factory.mktemp("post")
    ds = label_table_dataset(root / "ds", ROWS)
    assert main(["bench", "targets", str(ds), "--out", str(root / "plain"), "--seed", "3"]) == 0
    assert main(["bench", "targets", str(ds), "--out", str(root / "post"), "--seed", "3",
                 "--noise-after-events", str(GUARD_S)]) == 0
    return root


def test_post_event_windows_after_last_label_plus_guard(targets):
    original = {v: k for k, v in names_by_original(targets / "ds").items()}
    t1 = pd.read_csv(targets / "post/task1.csv")
    t1["trace_name"] = t1["trace_name"].map(original)
    post = t1[t1["window_source"] == "post_event"].set_index("trace_name")
    assert sorted(post.index) == ["lab000", "lab001", "lab005", "lab007"]
    assert (post["trace_type"] == "noise").all() and (post["end_sample"] - post["start_sample"] == 3000).all()
    for name, row in post.iterrows():
        npts, *labels, _ = ROWS[int(name[3:])]
        assert row["start_sample"] >= np.nanmax(labels) + GUARD_S * 100 and row["end_sample"] <= npts
    src = t1.groupby("trace_name")["window_source"].apply(sorted).to_dict()
    assert src["lab004"] == ["noise_trace"] and src["lab007"] == ["first_arrival", "post_event", "pre_event"]
    assert set(t1.loc[t1["trace_type"] == "earthquake", "window_source"]) == {"first_arrival"}
    rep = json.loads((targets / "post/targets_report.json").read_text())
    assert rep["skipped"]["post_event_noise_window_does_not_fit"] == 1  # lab002
    assert rep["skipped"]["post_event_noise_needs_p_and_s_labels"] == 1  # lab003
    assert rep["skipped"]["noise_window_trace_has_flagged_pick"] == 1  # lab006
    assert rep["notes"]["noise_after_events_s"] == GUARD_S
    assert rep["notes"]["task1_window_sources"]["dev/post_event"] == 3


def test_default_targets_unchanged_by_the_option(targets):
    """The option only adds rows (its own generator): every other window is the default one, and the
    default files have no window_source column."""
    plain = pd.read_csv(targets / "plain/task1.csv")
    post = pd.read_csv(targets / "post/task1.csv")
    assert "window_source" not in plain.columns
    kept = post[post["window_source"] != "post_event"].drop(columns="window_source").reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, plain)
    pd.testing.assert_frame_equal(pd.read_csv(targets / "post/task23.csv"), pd.read_csv(targets / "plain/task23.csv"))


def test_option_refused_where_it_does_not_apply(tmp_path):
    ds = label_table_dataset(tmp_path / "ds", ROWS[:2])
    with pytest.raises(ConfigError, match="pick-benchmark"):
        generate_targets(ds, tmp_path / "t", generator="pick-benchmark", noise_after_events=5.0)
    with pytest.raises(ConfigError, match="guard"):
        generate_targets(ds, tmp_path / "t", noise_after_events=float("nan"))


def test_post_event_noise_makes_single_outcome_dev_fittable(tmp_path):
    """The NCEDC situation: every dev pick correct and no noise window, so nothing can be fitted; post-event
    noise windows give both outcomes, and the card and metrics record where they came from."""
    rng = np.random.default_rng(0)
    n = 60
    t23 = pd.DataFrame({"trace_name": [f"t{i}" for i in range(n)] * 2, "source_id": [f"ev{i}" for i in range(n)] * 2,
                        "phase_label": ["P"] * n + ["S"] * n, "phase_onset": 3000.0, "sampling_rate": 100.0,
                        "p_sample_pred": 3010.0, "s_sample_pred": 3010.0, "p_prob": rng.uniform(0.5, 1, 2 * n),
                        "s_prob": rng.uniform(0.2, 0.6, 2 * n), "score_detection": 0.9, "score_p_or_s": 1.0})
    quake = pd.DataFrame({"trace_name": [f"t{i}" for i in range(n)], "source_id": [f"ev{i}" for i in range(n)],
                          "trace_type": "earthquake", "window_source": "first_arrival",
                          "p_prob": 0.9, "s_prob": 0.5, "score_detection": rng.uniform(0.6, 1, n)})
    noise = quake.assign(trace_type="noise", window_source="post_event", p_prob=rng.uniform(0, 0.4, n),
                         s_prob=rng.uniform(0, 0.4, n), score_detection=rng.uniform(0, 0.7, n))
    for name, t1 in (("plain", quake.drop(columns="window_source")), ("post", pd.concat([quake, noise]))):
        (tmp_path / name).mkdir()
        t1.to_csv(tmp_path / name / "dev_task1.csv", index=False)
        t23.to_csv(tmp_path / name / "dev_task23.csv", index=False)
    plain = C.fit_calibration(tmp_path / "plain")
    assert plain["maps"] == {} and set(plain["not_fitted"]) == {"P", "S", "detection"}
    post = C.fit_calibration(tmp_path / "post")
    assert set(post["maps"]) == {"P", "S", "detection"} and post["dev_noise_windows"] == {"post_event": n}
    for target in ("P", "S", "detection"):
        assert post["dev"][target]["ece_after"] < post["dev"][target]["ece_before"]
    section = C.calibration_metrics(pd.concat([quake, noise]), t23, prefix="dev", n_boot=0)[3]
    assert section["noise_windows"] == {"post_event": n} and section["n"]["P"] == 2 * n
    assert C.noise_window_sources(noise.drop(columns="window_source")) == {"unrecorded": n}


def test_report_caption_names_the_noise_sources():
    from seisforge.report.renderers.picking import _noise_source_note

    assert _noise_source_note({"a": {"calibration": {"noise_windows": {"unrecorded": 5}}}}) == ""
    note = _noise_source_note({"a": {"calibration": {"noise_windows": {"post_event": 20}}}, "b": {}})
    assert "a: post_event 20" in note and "not pick-benchmark noise" in note and "b:" not in note
