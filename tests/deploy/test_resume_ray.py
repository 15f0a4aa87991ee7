"""Resumability (kill -9 mid-run, rerun) and Ray scale-out give exactly the single-process pick set."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from seisforge.cli import main
from seisforge.deploy.store import KEY, read_picks

SRC = str(Path(__file__).resolve().parents[2] / "src")
DAYS = ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"]


def _args(weights, src, out):
    return ["pick", "--no-progress", "--model", "PhaseNetLight", "--weights", weights,
            "--input", str(src), "--out", str(out)]


def _frame(out: Path) -> pd.DataFrame:
    df = read_picks(out)
    assert not df.duplicated(KEY).any()
    return df.drop(columns=[]).reset_index(drop=True)


def test_kill9_then_rerun_gives_same_pick_set(weights, clean_archive, tmp_path):
    src = clean_archive(tmp_path / "archive", ["XR.AAA.", "XR.BBB."], DAYS, duration_s=1200)
    reference = tmp_path / "reference"
    assert main(_args(weights, src, reference)) == 0
    ref = _frame(reference)
    assert len(ref) > 20 and ref.day.nunique() == len(DAYS)

    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    state = out / "state"
    done_before = 0
    for _ in range(2):  # kill twice, each time right after at least one more unit was committed
        proc = subprocess.Popen([sys.executable, "-m", "seisforge.cli", *_args(weights, src, out)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if state.is_dir() and len(list(state.glob("*.json"))) > done_before:
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        n_done = len(list(state.glob("*.json")))
        assert done_before < n_done < 2 * len(DAYS), "the kill must land mid-run"
        done_before = n_done

    assert main(_args(weights, src, out)) == 0
    got = _frame(out)
    pd.testing.assert_frame_equal(got, ref)
    report = json.loads((out / "run_report.json").read_text())
    assert report["processed"] == 2 * len(DAYS) and report["notes"]["n_picks"] == len(ref)
    assert not list(out.rglob(".*.tmp"))
    # a third run has nothing to do and changes nothing
    assert main(_args(weights, src, out)) == 0
    pd.testing.assert_frame_equal(_frame(out), ref)


def test_rerun_with_other_settings_is_refused(weights, clean_archive, tmp_path):
    from seisforge.errors import ConfigError

    src = clean_archive(tmp_path / "archive", ["XR.AAA."], DAYS[:1], duration_s=300)
    out = tmp_path / "out"
    assert main(_args(weights, src, out)) == 0
    with pytest.raises(ConfigError, match="other settings"):
        from seisforge.cli import build_parser

        args = build_parser().parse_args(_args(weights, src, out) + ["--threshold-P", "0.2"])
        args.func(args)


def test_ray_two_workers_identical_to_single_process(weights, clean_archive, tmp_path):
    pytest.importorskip("ray")
    src = clean_archive(tmp_path / "archive", ["XR.AAA.", "XR.BBB."], DAYS[:2], duration_s=600)
    single, parallel = tmp_path / "single", tmp_path / "ray"
    assert main(_args(weights, src, single)) == 0
    assert main(_args(weights, src, parallel) + ["--workers", "2"]) == 0
    a, b = _frame(single), _frame(parallel)
    assert len(a) > 5
    pd.testing.assert_frame_equal(a, b)
    report = json.loads((parallel / "run_report.json").read_text())
    assert report["processed"] == 4 and report["failed_total"] == 0


def test_failing_unit_is_reported_and_retried_on_rerun(weights, clean_archive, tmp_path, monkeypatch):
    import seisforge.deploy.runner as runner

    src = clean_archive(tmp_path / "archive", ["XR.AAA."], DAYS[:3], duration_s=300)
    out = tmp_path / "out"
    real = runner.process_unit

    def flaky(unit, settings, out_dir, **kwargs):
        if unit.day == DAYS[1]:
            raise RuntimeError("disk on fire")
        return real(unit, settings, out_dir, **kwargs)

    monkeypatch.setattr(runner, "process_unit", flaky)
    assert main(_args(weights, src, out)) == 1  # the run finishes, but says a unit failed
    report = json.loads((out / "run_report.json").read_text())
    assert report["processed"] == 2 and report["failed"] == {"unit_error": 1}
    assert "disk on fire" in report["examples"]["failed:unit_error"][0]
    monkeypatch.setattr(runner, "process_unit", real)
    assert main(_args(weights, src, out)) == 0  # the rerun does only the missing day
    report = json.loads((out / "run_report.json").read_text())
    assert report["processed"] == 3 and report["failed_total"] == 0
    assert set(read_picks(out).day) == set(DAYS[:3])
