"""`seisforge pick` against a real S3 API: moto's standalone server on 127.0.0.1 (issue 13, family 8).

Input files and an SDS archive on S3, picks and unit states written to S3, in one process and on Ray
workers, and a kill -9 mid-run followed by a rerun: always the pick set of a local run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests

from seisforge.cli import main
from seisforge.deploy.store import KEY, read_picks

pytest.importorskip("s3fs", reason="object-storage tests need seisforge[cloud] (s3fs)")
moto_server = pytest.importorskip("moto.server", reason="object-storage tests need seisforge[cloud] (moto)")

SRC = str(Path(__file__).resolve().parents[2] / "src")
DAYS = ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def s3(monkeypatch):
    """A moto S3 server on a free local port with bucket ``sftest``; yields the ``--storage-options`` JSON."""
    import fsspec.config
    import s3fs

    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    # moto keeps its buckets in process memory across servers: start from an empty store
    requests.post(f"http://127.0.0.1:{port}/moto-api/reset", timeout=30).raise_for_status()
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "testing", "secret": "testing"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("FSSPEC_S3", json.dumps(options))  # restored after the test (pick sets it too)
    monkeypatch.setitem(fsspec.config.conf, "s3", dict(options))
    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem(**options).mkdir("sftest")
    yield json.dumps(options)
    s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


def _upload(local: Path, url: str) -> None:
    import s3fs

    fs = s3fs.S3FileSystem()
    for f in sorted(local.rglob("*")):
        if f.is_file():
            fs.put_file(str(f), f"{url.removeprefix('s3://')}/{f.relative_to(local).as_posix()}")


def _args(weights, out, options, *source):
    return ["pick", "--no-progress", "--model", "PhaseNetLight", "--weights", weights, "--backend", "onnx",
            "--precision", "fp32", "--out", str(out), "--storage-options", options, *source]


def test_files_and_sds_on_s3_give_the_local_picks(weights, clean_archive, s3, tmp_path, capsys):
    src = clean_archive(tmp_path / "archive", ["XR.AAA.", "XR.BBB."], DAYS[:2], duration_s=600)
    _upload(src, "s3://sftest/in")
    assert main(_args(weights, tmp_path / "ref", s3, "--input", str(src))) == 0
    ref = read_picks(tmp_path / "ref")
    assert len(ref) > 5

    assert main(_args(weights, "s3://sftest/picks", s3, "--input", "s3://sftest/in")) == 0
    pd.testing.assert_frame_equal(read_picks("s3://sftest/picks"), ref)
    assert main(_args(weights, "s3://sftest/picks", s3, "--input", "s3://sftest/in")) == 0  # rerun: all done
    import s3fs

    fs = s3fs.S3FileSystem()
    report = json.loads(fs.cat_file("sftest/picks/run_report.json"))
    assert report["processed"] == 4 and report["notes"]["n_picks"] == len(ref)
    assert not fs.exists("sftest/picks/lock.json")  # the marker is removed at the end
    assert main(_args(weights, "s3://no-such-bucket/x", s3, "--input", str(src))) == 2  # a clear error
    assert "no-such-bucket" in capsys.readouterr().err

    # the same data as an SDS archive on S3 (one file per channel-day)
    sds = tmp_path / "SDS"
    import obspy

    for f in sorted(src.glob("*.mseed")):
        for tr in obspy.read(str(f)):
            s = tr.stats
            d = sds / str(s.starttime.year) / s.network / s.station / f"{s.channel}.D"
            d.mkdir(parents=True, exist_ok=True)
            tr.write(str(d / f"{tr.id}.D.{s.starttime.year}.{s.starttime.julday:03d}"), format="MSEED",
                     encoding="FLOAT32")
    _upload(sds, "s3://sftest/sds")
    assert main(_args(weights, tmp_path / "sds_out", s3, "--sds", "s3://sftest/sds", "--stations",
                      "XR.AAA,XR.BBB", "--start", DAYS[0], "--end", "2024-05-03", "--channel", "HH?")) == 0
    got = read_picks(tmp_path / "sds_out")
    assert len(got) == len(ref)
    pd.testing.assert_series_equal(got.peak_time, ref.peak_time)


def test_ray_workers_and_kill9_resume_on_s3(weights, clean_archive, s3, tmp_path):
    pytest.importorskip("ray")
    src = clean_archive(tmp_path / "archive", ["XR.AAA.", "XR.BBB."], DAYS, duration_s=1200)
    _upload(src, "s3://sftest/in")
    assert main(_args(weights, tmp_path / "ref", s3, "--input", str(src))) == 0
    ref = read_picks(tmp_path / "ref")

    assert main(_args(weights, "s3://sftest/ray", s3, "--input", "s3://sftest/in", "--workers", "2")) == 0
    pd.testing.assert_frame_equal(read_picks("s3://sftest/ray"), ref)

    import s3fs

    fs = s3fs.S3FileSystem()
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    args = _args(weights, "s3://sftest/killed", s3, "--input", "s3://sftest/in")
    proc = subprocess.Popen([sys.executable, "-m", "seisforge.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not fs.glob("sftest/killed/state/*.json"):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    fs.invalidate_cache()
    n_done = len(fs.glob("sftest/killed/state/*.json"))
    assert 0 < n_done < 2 * len(DAYS), "the kill must land mid-run"
    assert fs.exists("sftest/killed/lock.json")  # left behind by the killed run: stale, taken over below

    assert main(args) == 0
    got = read_picks("s3://sftest/killed")
    assert not got.duplicated(KEY).any()
    pd.testing.assert_frame_equal(got, ref)
