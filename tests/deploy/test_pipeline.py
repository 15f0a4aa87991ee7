"""The serial pick pipeline (read ahead, pick, write behind) gives the output of one unit after another.

Errors of the reader and the writer threads belong to their unit: counted in ``run_report.json``
(``failed.unit_error``), never swallowed, and the rerun redoes exactly those units.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.cli import main
from seisforge.deploy.store import read_picks

DAYS = ["2024-06-01", "2024-06-02"]
STATIONS = ["XP.AAA.", "XP.BBB."]


def _args(weights: str, src: Path, out: Path) -> list[str]:
    return ["pick", "--no-progress", "--model", "PhaseNetLight", "--weights", weights, "--backend", "onnx",
            "--precision", "fp32", "--input", str(src), "--out", str(out)]


def _states(out: Path) -> dict[str, dict]:
    drop = ("elapsed_s",)  # wall time: the only field that may differ
    return {p.name: {k: v for k, v in json.loads(p.read_text()).items() if k not in drop}
            for p in sorted((out / "state").glob("*.json"))}


def _parts(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "picks").rglob("*.parquet"))}


def test_pipelined_run_equals_units_one_after_another(weights, clean_archive, tmp_path, monkeypatch):
    import seisforge.deploy.runner as runner
    from seisforge.data.continuous.sources import index_files
    from seisforge.deploy.settings import PickSettings

    src = clean_archive(tmp_path / "archive", STATIONS, DAYS, duration_s=600, n_events=3)
    readers: list[str] = []
    real_prepare = runner.prepare_unit

    def recording_prepare(unit, settings):
        readers.append(threading.current_thread().name)
        return real_prepare(unit, settings)

    monkeypatch.setattr(runner, "prepare_unit", recording_prepare)
    piped = tmp_path / "piped"
    assert main(_args(weights, src, piped)) == 0
    assert len(readers) == len(STATIONS) * len(DAYS)
    assert all(name.startswith("seisforge-read") for name in readers)  # read in the reader thread

    # the same units one after another, each read, picked and committed before the next
    monkeypatch.setattr(runner, "prepare_unit", real_prepare)
    settings = PickSettings(model="seisbench:PhaseNetLight", weights=weights, backend="onnx", precision="fp32")
    sequential = tmp_path / "sequential"
    units = index_files([str(src)], runner.pad_seconds(runner.get_model(settings))).units
    for unit in units:
        runner.process_unit(unit, settings, str(sequential))

    assert _parts(piped) == _parts(sequential)  # byte for byte
    assert _states(piped) == _states(sequential)
    picks = read_picks(piped)
    assert len(picks) > 5 and picks.day.nunique() == len(DAYS)


def test_reader_error_is_counted_for_its_unit(weights, clean_archive, tmp_path, monkeypatch):
    import seisforge.deploy.runner as runner

    src = clean_archive(tmp_path / "archive", STATIONS[:1], DAYS, duration_s=300, n_events=2)
    out = tmp_path / "out"
    real_prepare = runner.prepare_unit

    def failing_prepare(unit, settings):
        if unit.day == DAYS[0]:
            raise OSError("unreadable disk block")
        return real_prepare(unit, settings)

    monkeypatch.setattr(runner, "prepare_unit", failing_prepare)
    assert main(_args(weights, src, out)) == 1
    report = json.loads((out / "run_report.json").read_text())
    assert report["processed"] == 1 and report["failed"] == {"unit_error": 1}
    assert "unreadable disk block" in report["examples"]["failed:unit_error"][0]
    assert DAYS[0] in report["examples"]["failed:unit_error"][0]
    assert set(read_picks(out).day) == {DAYS[1]}

    monkeypatch.setattr(runner, "prepare_unit", real_prepare)
    assert main(_args(weights, src, out)) == 0  # the rerun does the failed unit only
    report = json.loads((out / "run_report.json").read_text())
    assert report["processed"] == 2 and report["failed_total"] == 0


def test_writer_error_is_counted_and_leaves_no_commit(weights, clean_archive, tmp_path, monkeypatch):
    import seisforge.deploy.runner as runner

    src = clean_archive(tmp_path / "archive", STATIONS[:1], DAYS, duration_s=300, n_events=2)
    out = tmp_path / "out"
    real_run = runner.Commit.run

    def failing_run(commit):
        if commit.unit.day == DAYS[1]:
            raise OSError("No space left on device")
        return real_run(commit)

    monkeypatch.setattr(runner.Commit, "run", failing_run)
    assert main(_args(weights, src, out)) == 1
    report = json.loads((out / "run_report.json").read_text())
    assert report["processed"] == 1 and report["failed"] == {"unit_error": 1}
    assert "No space left on device" in report["examples"]["failed:unit_error"][0]
    assert [p.name for p in (out / "state").glob("*.json")] == [f"XP.AAA.__{DAYS[0]}.json"]

    monkeypatch.setattr(runner.Commit, "run", real_run)
    assert main(_args(weights, src, out)) == 0
    full = tmp_path / "full"
    assert main(_args(weights, src, full)) == 0
    pd.testing.assert_frame_equal(read_picks(out), read_picks(full))


def _same_streams(a, b) -> None:
    assert [tr.id for tr in a] == [tr.id for tr in b]
    for x, y in zip(a, b, strict=True):
        assert (x.stats.starttime, x.stats.sampling_rate, x.stats.npts) == (y.stats.starttime, y.stats.sampling_rate,
                                                                             y.stats.npts)
        assert x.data.dtype == y.data.dtype and np.array_equal(x.data, y.data, equal_nan=True)


def test_files_decoded_ahead_give_the_same_units(messy_archive, tmp_path, monkeypatch):
    from seisforge.data.continuous import waveio
    from seisforge.data.continuous.sources import expand_paths, index_files, load_unit
    from seisforge.testing import continuous_stream

    # a file across midnight and the next one: units cut records of both with their day and pad
    midnight = tmp_path / "midnight"
    midnight.mkdir()
    for i, start in enumerate(("2024-06-01T23:50:00.005", "2024-06-02T00:10:00.005")):
        st, _ = continuous_stream("XP.MID.", start=start, duration_s=1200, n_events=2, seed=i)
        st.write(str(midnight / f"part{i}.mseed"), format="MSEED", encoding="FLOAT32", reclen=512)
    for root in (messy_archive, midnight):
        files = expand_paths([str(root)])
        units = index_files([str(root)], 62.0).units
        monkeypatch.setattr(waveio, "_AHEAD", {})
        plain = [(load_unit(u, 62.0, problems := []), problems) for u in units]
        assert waveio.decode_ahead(files) == len(files)
        for future in waveio._AHEAD.values():
            future.exception()  # waits for the decoding thread
        ahead = [(load_unit(u, 62.0, problems := []), problems) for u in units]
        for (st_a, prob_a), (st_b, prob_b) in zip(plain, ahead, strict=True):
            _same_streams(st_a, st_b)
            assert prob_a == prob_b  # unreadable files are reported the same way
        assert sum(len(st) for st, _ in ahead) > 0
    assert len(units) == 2
    assert waveio.decode_ahead([str(tmp_path / "nothing.mseed")]) == 0
    assert waveio.decode_ahead(files, budget=10) == 0  # too large: not decoded ahead
