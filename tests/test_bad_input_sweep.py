"""Bad-input sweep over every command (issue 13): a clear one-line error naming the option or file, or a
counted handling in the command's report; never a traceback, never exit 0 with wrong data.

Every case runs through ``seisforge.cli.main`` in-process on tiny inputs made in ``tmp_path``.
"""

from __future__ import annotations

import errno
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seisforge.cli import main, os_error_message

PNL = ["--model", "PhaseNetLight", "--random-init", "--backend", "torch", "--precision", "fp32", "--no-progress"]


@pytest.fixture(autouse=True)
def _fresh_log_handlers():
    """``main`` calls ``logging.basicConfig``; drop its handler so each test's stderr capture gets the logs."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if type(h) is logging.StreamHandler]:
        root.removeHandler(h)
    yield


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_error(result, *names: str) -> str:
    """Non-zero exit, exactly one ``seisforge: error:`` line naming ``names``, no traceback."""
    code, _, err = result
    assert code != 0, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("seisforge: error:")]
    assert len(lines) == 1, err
    for name in names:
        assert str(name) in lines[0], lines[0]
    return lines[0]


# ----------------------------------------------------------------------------- shared tiny inputs
@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sweep")


@pytest.fixture(scope="module")
def ds(work) -> Path:
    assert main(["data", "synth", "--out", str(work / "ds"), "--events", "8", "--noise-traces", "4",
                 "--seed", "1"]) == 0
    return work / "ds"


@pytest.fixture(scope="module")
def preds(work, ds) -> Path:
    """Targets, STA/LTA predictions and their metrics.json."""
    assert main(["bench", "targets", str(ds), "--out", str(work / "tg")]) == 0
    assert main(["bench", "predict", "--dataset", str(ds), "--targets", str(work / "tg"), "--model", "stalta",
                 "--out", str(work / "pr")]) == 0
    assert main(["bench", "score", str(work / "pr"), "--bootstrap", "0"]) == 0
    return work / "pr"


@pytest.fixture(scope="module")
def ctf_data(work) -> Path:
    assert main(["ctf", "simulate", "global", "--size", "tiny", "--out", str(work / "ctf")]) == 0
    return work / "ctf" / "data" / "global_tiny"  # the official ctf4science layout


@pytest.fixture(scope="module")
def mseed(work) -> Path:
    from seisforge.testing import continuous_stream

    st, _ = continuous_stream("XX.AAA.", start="2024-01-01", duration_s=120, n_events=1, seed=0)
    st.write(str(work / "a.mseed"), format="MSEED", encoding="FLOAT32")
    return work / "a.mseed"


def copy_tree(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------- family 2: option values
PARSE_CASES = [
    (["data", "synth", "--out", "o", "--second-event-prob", "5"], "--second-event-prob"),
    (["data", "synth", "--out", "o", "--events", "-3"], "--events"),
    (["data", "synth", "--out", "o", "--fractions", "0.5,abc"], "--fractions"),
    (["data", "synth", "--out", "o", "--transient-prob", "nan"], "--transient-prob"),
    (["data", "synth", "--out", "o", "--second-event-min-rel-amp", "-1"], "--second-event-min-rel-amp"),
    (["data", "convert", "phasenet-npz", "s", "--picks", "p", "--out", "o", "--fractions", "0.7,0.2"],
     "--fractions"),
    (["data", "convert", "phasenet-npz", "s", "--picks", "p", "--out", "o", "--seed", "-1"], "--seed"),
    (["data", "split", "m.parquet", "--out", "o.parquet", "--fractions", "0.5,abc"], "--fractions"),
    (["data", "clean-labels", "m.parquet", "--model", "stalta", "--out", "f", "--p-threshold", "1.5"],
     "--p-threshold"),
    (["data", "clean-labels", "m.parquet", "--model", "stalta", "--out", "f", "--batch-size", "0"], "--batch-size"),
    (["data", "audit-leakage", "--train", "a", "--bench", "b", "--splits", "dev,,test"], "--splits"),
    (["data", "noise-pool", "c.yaml", "--model", "stalta", "--out", "n", "--batch-size", "-4"], "--batch-size"),
    (["bench", "targets", "ds", "--out", "o", "--sampling-rate", "0"], "--sampling-rate"),
    (["bench", "predict", "--dataset", "d", "--targets", "t", "--model", "stalta", "--out", "o",
      "--batch-size", "0"], "--batch-size"),
    (["bench", "predict", "--dataset", "d", "--targets", "t", "--model", "stalta", "--out", "o",
      "--workers", "-1"], "--workers"),
    (["bench", "score", "p", "--bootstrap", "-5"], "--bootstrap"),
    (["bench", "score", "p", "--bootstrap", "2.5"], "--bootstrap"),
    (["bench", "compare", "a", "b", "--out", "o", "--bootstrap", "-1"], "--bootstrap"),
    (["bench", "continuous", "--picks", "p", "--catalog", "c", "--tolerance", "0"], "--tolerance"),
    (["bench", "continuous", "--picks", "p", "--catalog", "c", "--tolerance", "inf"], "--tolerance"),
    (["tune", "c.yaml", "--space", "s.yaml", "--samples", "0"], "--samples"),
    (["tune", "c.yaml", "--space", "s.yaml", "--samples", "2", "--cpus-per-trial", "0"], "--cpus-per-trial"),
    (["pick", "--input", "x", "--out", "o", "--threshold-P", "-1"], "--threshold-P"),
    (["pick", "--input", "x", "--out", "o", "--threshold-S", "1"], "--threshold-S"),
    (["pick", "--input", "x", "--out", "o", "--overlap", "-5"], "--overlap"),
    (["pick", "--input", "x", "--out", "o", "--batch-size", "0"], "--batch-size"),
    (["pick", "--input", "x", "--out", "o", "--workers", "-2"], "--workers"),
    (["pick", "--input", "x", "--out", "o", "--blinding", "10", "-1"], "--blinding"),
    (["ctf", "simulate", "global", "--out", "o", "--seed", "abc"], "--seed"),
    (["ctf", "tune", "--data", "d", "--model", "dmd", "--space", "s", "--samples", "0"], "--samples"),
    (["ctf", "tune", "--data", "d", "--model", "dmd", "--space", "s", "--max-t", "0"], "--max-t"),
    (["demo", "--events", "0"], "--events"),
    (["demo", "--bootstrap", "-1"], "--bootstrap"),
]


@pytest.mark.parametrize("argv,option", PARSE_CASES, ids=[" ".join(a[:2]) + " " + o for a, o in PARSE_CASES])
def test_bad_option_value_is_one_clear_line(capsys, argv, option):
    line = assert_error(cli(capsys, *argv), option)
    assert "--help" in line  # points at the command's help


def test_pick_overlap_and_blinding_checked_against_model_window(capsys, work, mseed):
    line = assert_error(cli(capsys, "pick", *PNL, "--input", mseed, "--out", work / "pk_ov", "--overlap", "5000"),
                        "--overlap", "3001")
    assert "window" in line
    assert_error(cli(capsys, "pick", *PNL, "--input", mseed, "--out", work / "pk_bl", "--blinding", "2000", "2000"),
                 "--blinding")
    assert not (work / "pk_ov" / "run.json").exists()  # refused before anything is recorded


# ----------------------------------------------------------------------------- family 3: corrupt files
def test_truncated_npz_is_counted_like_random_bytes(capsys, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    good = np.zeros((9001, 3))
    good[:, 2] = np.sin(np.arange(9001) / 10)
    names = [f"NC_A{i:02d}_2014071807051236.npz" for i in range(4)]
    for name in names:
        np.savez(src / name, data=good)
    blob = (src / names[0]).read_bytes()
    (src / names[1]).write_bytes(blob[: len(blob) // 2])  # truncated in the middle of the archive
    (src / names[2]).write_bytes(blob[: len(blob) - 30])  # truncated in the central directory
    (src / names[3]).write_bytes(np.random.default_rng(0).bytes(4000))  # random bytes
    good_names = [f"NC_B{i:02d}_2014071807051236.npz" for i in range(3)]
    for name in good_names:
        np.savez(src / name, data=good)
    pd.DataFrame({"fname": names + good_names, "itp": 3000, "its": 3500}).to_csv(src / "picks.csv", index=False)
    code, _, err = cli(capsys, "data", "convert", "phasenet-npz", src, "--picks", src / "picks.csv",
                       "--out", tmp_path / "o", "--split", "test")
    assert code == 0 and "Traceback" not in err
    rep = json.loads((tmp_path / "o" / "run_report.json").read_text())
    assert rep["processed"] == 4  # names[0] and the three good files
    assert rep["failed"] == {"corrupt_npz": 3}


def _bad_pair(folder: Path, json_text: str) -> Path:
    folder.mkdir()
    (folder / "w.json").write_text(json_text)
    (folder / "w.pt").write_bytes(np.random.default_rng(1).bytes(600))
    return folder / "w"


def test_garbage_pt_weights_name_the_file(capsys, tmp_path, ds, preds):
    prefix = _bad_pair(tmp_path / "w", '{"model_args": {}}')
    assert_error(cli(capsys, "bench", "predict", "--dataset", ds, "--targets", preds.parent / "tg", "--model",
                     "PhaseNetLight", "--weights", prefix, "--out", tmp_path / "p"), "w.pt")


def test_bad_json_weights_name_the_file(capsys, tmp_path, ds, preds):
    prefix = _bad_pair(tmp_path / "w", "{not json")
    assert_error(cli(capsys, "bench", "predict", "--dataset", ds, "--targets", preds.parent / "tg", "--model",
                     "PhaseNetLight", "--weights", prefix, "--out", tmp_path / "p"), "w.json")


def test_pick_with_garbage_weights_names_the_file(capsys, tmp_path, mseed):
    prefix = _bad_pair(tmp_path / "w", '{"model_args": {"in_channels": 3}}')
    assert_error(cli(capsys, "pick", "--model", "PhaseNetLight", "--weights", prefix, "--input", mseed,
                     "--out", tmp_path / "pk"), "w.pt")


def test_run_dir_with_garbage_description_names_the_file(capsys, tmp_path, ds, preds):
    (tmp_path / "run" / "best").mkdir(parents=True)
    (tmp_path / "run" / "best" / "seisforge.json").write_bytes(b"\x00\xff garbage")
    assert_error(cli(capsys, "bench", "predict", "--dataset", ds, "--targets", preds.parent / "tg", "--model",
                     f"run:{tmp_path / 'run'}", "--out", tmp_path / "p"), "seisforge.json")


def test_resume_from_garbage_last_pt_names_the_file(capsys, tmp_path, ds):
    from seisforge.config import load_yaml

    cfg = load_yaml(Path(__file__).parents[1] / "configs" / "demo_phasenet.yaml")
    cfg["data"]["path"] = str(ds)
    cfg["run"]["root"] = str(tmp_path / "runs")
    run = tmp_path / "runs" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    import yaml

    (run / "config.resolved.yaml").write_text(yaml.safe_dump(cfg))
    (run / "checkpoints" / "last.pt").write_bytes(np.random.default_rng(2).bytes(1000))
    assert_error(cli(capsys, "train", "--resume", run), "last.pt")


@pytest.mark.parametrize("override,key", [("train.batch_size=0", "train.batch_size"), ("optim.lr=-1", "optim.lr"),
                                          ("train.epochs=-1", "train.epochs"),
                                          ("augment.noise_prob=2", "augment.noise_prob")])
def test_train_config_values_are_range_checked(capsys, tmp_path, ds, override, key):
    cfg = Path(__file__).parents[1] / "configs" / "demo_phasenet.yaml"
    assert_error(cli(capsys, "train", cfg, "--set", f"data.path={ds}", "--set", f"run.root={tmp_path}",
                     "--set", override), key)
    assert not any(tmp_path.iterdir())  # refused before a run directory exists


def test_binary_text_config_names_the_file(capsys, tmp_path):
    (tmp_path / "c.yaml").write_bytes(np.random.default_rng(3).bytes(300))
    assert_error(cli(capsys, "train", tmp_path / "c.yaml"), "c.yaml")


def test_binary_predictions_csv_names_the_file(capsys, tmp_path, preds):
    pred = copy_tree(preds, tmp_path / "pr")
    (pred / "test_task1.csv").write_bytes(np.random.default_rng(4).bytes(2000))
    assert_error(cli(capsys, "bench", "score", pred, "--bootstrap", "0"), "test_task1.csv")


def test_non_numeric_predictions_name_file_and_column(capsys, tmp_path, preds):
    pred = copy_tree(preds, tmp_path / "pr")
    df = pd.read_csv(pred / "test_task23.csv", dtype=str)
    df.loc[0, "p_sample_pred"] = "abc"
    df.to_csv(pred / "test_task23.csv", index=False)
    assert_error(cli(capsys, "bench", "score", pred, "--bootstrap", "0"), "test_task23.csv", "p_sample_pred")


def test_predictions_without_required_column_name_it(capsys, tmp_path, preds):
    pred = copy_tree(preds, tmp_path / "pr")
    pd.read_csv(pred / "dev_task1.csv").drop(columns=["score_detection"]).to_csv(pred / "dev_task1.csv", index=False)
    assert_error(cli(capsys, "bench", "score", pred, "--bootstrap", "0"), "dev_task1.csv", "score_detection")


@pytest.mark.parametrize("content", [b'{"metrics": [1,2', b"\x89PNG\x00\xff", b'{"metrics": {"test_det_f1": "x"}}'])
def test_corrupt_metrics_json_in_leaderboard_and_compare(capsys, tmp_path, preds, content):
    pred = copy_tree(preds, tmp_path / "bad")
    (pred / "metrics.json").write_bytes(content)
    assert_error(cli(capsys, "bench", "leaderboard", preds, pred, "--out", tmp_path / "lb"), "metrics.json")
    assert_error(cli(capsys, "bench", "compare", preds, pred, "--out", tmp_path / "cmp"), "metrics.json")


def test_ctf_nan_training_matrix_names_the_file(capsys, tmp_path, ctf_data):
    data = copy_tree(ctf_data, tmp_path / "ctf")
    path = data / "train" / "X1train.npz"
    with np.load(path) as z:
        key, arr = next(iter(z.items()))
    arr = arr.copy()
    arr[3, 4] = np.nan
    np.savez(path, **{key: arr})
    line = assert_error(cli(capsys, "ctf", "run", "--data", data, "--model", "dmd", "--pairs", "1",
                            "--out", tmp_path / "res"), "X1train.npz")
    assert "NaN" in line


def test_ctf_truncated_matrix_names_the_file(capsys, tmp_path, ctf_data):
    data = copy_tree(ctf_data, tmp_path / "ctf")
    path = data / "train" / "X1train.npz"
    path.write_bytes(path.read_bytes()[:200])
    assert_error(cli(capsys, "ctf", "run", "--data", data, "--model", "mean", "--pairs", "1",
                     "--out", tmp_path / "res"), "X1train.npz")


def test_ctf_leaderboard_without_results(capsys, tmp_path):
    (tmp_path / "r").mkdir()
    assert_error(cli(capsys, "ctf", "leaderboard", tmp_path / "r", "--out", tmp_path / "lb"), "batch_results.yaml")


def test_ctf_simulate_bad_override(capsys, tmp_path):
    assert_error(cli(capsys, "ctf", "simulate", "global", "--size", "tiny", "--out", tmp_path / "o",
                     "--set", "dt=-1"), "dt")


def test_manifest_tools_on_non_parquet(capsys, tmp_path, preds):
    (tmp_path / "m.parquet").write_bytes(b"not parquet at all")
    assert_error(cli(capsys, "data", "split", tmp_path / "m.parquet", "--out", tmp_path / "o.parquet"), "m.parquet")
    assert_error(cli(capsys, "data", "audit-leakage", "--train", tmp_path / "m.parquet", "--bench",
                     preds.parent / "tg"), "m.parquet")
    assert_error(cli(capsys, "data", "clean-labels", tmp_path / "m.parquet", "--model", "stalta",
                     "--out", tmp_path / "f.parquet"), "m.parquet")


def test_noise_pool_missing_config(capsys, tmp_path):
    assert_error(cli(capsys, "data", "noise-pool", tmp_path / "none.yaml", "--model", "stalta",
                     "--out", tmp_path / "n.parquet"), "none.yaml")


def test_manifest_of_missing_dataset(capsys, tmp_path):
    assert_error(cli(capsys, "data", "manifest", "--dataset", tmp_path / "nothing", "--out", tmp_path / "m.parquet"),
                 "nothing")


def test_tune_missing_space(capsys, tmp_path):
    cfg = Path(__file__).parents[1] / "configs" / "demo_phasenet.yaml"
    assert_error(cli(capsys, "tune", cfg, "--space", tmp_path / "space.yaml", "--samples", "1"), "space.yaml")


# ----------------------------------------------------------------------------- family 5: catalogs
def _empty_picks(folder: Path) -> Path:
    (folder / "state").mkdir(parents=True)
    return folder


def test_empty_catalog_is_an_error(capsys, tmp_path):
    (tmp_path / "cat.csv").write_text("trace_id,phase,time,event_id\n")
    assert_error(cli(capsys, "bench", "continuous", "--picks", _empty_picks(tmp_path / "p"), "--catalog",
                     tmp_path / "cat.csv"), "cat.csv", "no rows")


def test_catalog_without_p_or_s_is_an_error(capsys, tmp_path):
    pd.DataFrame({"trace_id": ["XX.A."] * 2, "phase": ["PmP", "SKS"], "time": ["2024-01-01T00:00:01Z"] * 2,
                  "event_id": ["e1"] * 2}).to_csv(tmp_path / "cat.csv", index=False)
    assert_error(cli(capsys, "bench", "continuous", "--picks", _empty_picks(tmp_path / "p"), "--catalog",
                     tmp_path / "cat.csv"), "cat.csv", "PmP")


def test_catalog_duplicates_and_phase_names_are_counted(capsys, tmp_path):
    rows = [("XX.A.", "Pg", "2024-01-01T00:00:01Z"), ("XX.A.", "Pg", "2024-01-01T00:00:01Z"),
            ("XX.A.", "Sn", "2024-01-01T00:00:03Z"), ("XX.A.", "PmP", "2024-01-01T00:00:02Z")]
    pd.DataFrame(rows, columns=["trace_id", "phase", "time"]).to_csv(tmp_path / "cat.csv", index=False)
    code, out, err = cli(capsys, "bench", "continuous", "--picks", _empty_picks(tmp_path / "p"), "--catalog",
                         tmp_path / "cat.csv", "--bootstrap", "0", "--out", tmp_path / "m")
    assert code == 0 and "Traceback" not in err
    cat = json.loads((tmp_path / "m" / "metrics.json").read_text())["catalog"]
    assert cat == {"rows_read": 4, "unknown_phase_rows": 1, "unknown_phases": {"PmP": 1},
                   "renamed_phases": {"Pg": 2, "Sn": 1}, "duplicate_rows": 1, "rows_used": 2}
    assert "1 duplicate rows dropped" in out


# ----------------------------------------------------------------------------- family 6: the boundary
def test_output_below_a_file(capsys, tmp_path, ds):
    (tmp_path / "afile").write_text("x")
    assert_error(cli(capsys, "bench", "targets", ds, "--out", tmp_path / "afile" / "t"), "afile")
    assert_error(cli(capsys, "demo", "--out", tmp_path / "afile", "--no-train", "--events", "2"), "afile")


def test_pick_out_is_a_file(capsys, tmp_path, mseed):
    (tmp_path / "afile").write_text("x")
    line = assert_error(cli(capsys, "pick", *PNL, "--input", mseed, "--out", tmp_path / "afile"), "afile")
    assert "is a file, not a folder" in line


def test_pick_csv_on_a_full_disk(capsys, tmp_path, mseed):
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is not available on this system")
    line = assert_error(cli(capsys, "pick", *PNL, "--input", mseed, "--out", tmp_path / "pk", "--csv", "/dev/full"),
                        "/dev/full")
    assert "no space left" in line.lower()


@pytest.mark.parametrize("code,text", [(errno.EACCES, "permission denied"), (errno.ENOSPC, "no space left"),
                                       (errno.EROFS, "read-only"), (errno.EISDIR, "is a folder")])
def test_os_errors_map_to_one_line_naming_the_path(code, text):
    msg = os_error_message(OSError(code, "x", "/some/out.csv"))
    assert msg.startswith("/some/out.csv: ") and text in msg and "\n" not in msg


def test_a_bug_says_so_and_v_shows_the_traceback(capsys, monkeypatch, ds):
    import seisforge.bench.picking.targets as targets

    def broken(*a, **k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(targets, "generate_targets", broken)
    code, _, err = cli(capsys, "bench", "targets", ds, "--out", "unused")
    line = assert_error((code, "", err), "bug", "-v", "ZeroDivisionError: boom")
    assert code == 70 and "report" in line
    code, _, err = cli(capsys, "-v", "bench", "targets", ds, "--out", "unused")
    assert code == 70 and "Traceback" in err and "ZeroDivisionError" in err


def test_ctrl_c_is_one_line(capsys, monkeypatch, ds):
    import seisforge.bench.picking.targets as targets

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(targets, "generate_targets", interrupted)
    code, _, err = cli(capsys, "bench", "targets", ds, "--out", "unused")
    assert_error((code, "", err), "interrupted")
    assert code == 130


def test_usage_errors_are_one_line(capsys):
    assert_error(cli(capsys, "bench", "score"), "pred_dir")
    assert_error(cli(capsys, "nosuchgroup"), "nosuchgroup")


def test_duplicate_catalog_rows_do_not_change_recall(tmp_path):
    from seisforge.bench.picking.continuous import evaluation_rows, read_catalog, score_groups

    times = pd.to_datetime(pd.Series([100.0, 200.0, 300.0]), unit="s", utc=True)
    cat = pd.DataFrame({"trace_id": "XX.A.", "phase": ["P", "Pn", "Sg"], "event_id": ["e1", "e2", "e2"],
                        "time": times.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
    cat.to_csv(tmp_path / "once.csv", index=False)
    pd.concat([cat, cat]).to_csv(tmp_path / "twice.csv", index=False)
    picks = pd.DataFrame({"trace_id": "XX.A.", "phase": ["P", "P", "S"], "peak_time": times})
    recall = {}
    for name in ("once", "twice"):
        info: dict = {}
        rows = evaluation_rows(read_catalog(tmp_path / f"{name}.csv", info), picks, tolerance=0.5)
        recall[name] = score_groups(rows, ["phase"], n_boot=0, seed=0).set_index("phase")["recall"].to_dict()
        assert info["duplicate_rows"] == (3 if name == "twice" else 0)
    assert recall["once"] == recall["twice"] == {"P": 1.0, "S": 1.0, "all": 1.0}


def test_binary_picks_file_in_convert_names_it(capsys, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "picks.csv").write_bytes(b"\xe2\x28\xa1" * 100)
    assert_error(cli(capsys, "data", "convert", "phasenet-npz", tmp_path / "src", "--picks", tmp_path / "picks.csv",
                     "--out", tmp_path / "o"), "picks.csv")


def test_binary_targets_file_in_predict_names_it(capsys, tmp_path, ds, preds):
    tg = copy_tree(preds.parent / "tg", tmp_path / "tg")
    (tg / "task1.csv").write_bytes(b"\xe2\x28\xa1" * 100)
    assert_error(cli(capsys, "bench", "predict", "--dataset", ds, "--targets", tg, "--model", "stalta",
                     "--out", tmp_path / "p"), "task1.csv")


def test_zero_byte_catalog_is_an_error(capsys, tmp_path):
    (tmp_path / "cat.csv").write_bytes(b"")
    assert_error(cli(capsys, "bench", "continuous", "--picks", _empty_picks(tmp_path / "p"), "--catalog",
                     tmp_path / "cat.csv"), "cat.csv")


def test_pick_on_a_non_seismic_file_is_counted(capsys, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.mseed").write_bytes(np.random.default_rng(5).bytes(5000))
    code, _, err = cli(capsys, "pick", *PNL, "--input", tmp_path / "in", "--out", tmp_path / "pk")
    assert code == 0 and "Traceback" not in err
    rep = json.loads((tmp_path / "pk" / "run_report.json").read_text())
    assert sum(rep["failed"].values()) == 1 and rep["processed"] == 0
