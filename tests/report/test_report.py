"""``seisforge report``: built from small outputs of the real commands, then opened in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from seisforge.cli import main
from seisforge.errors import DataError

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _bench(root: Path) -> Path:
    """Tiny synthetic benchmark: STA/LTA and a 1-epoch PhaseNetLight, scored, with a leaderboard."""
    from seisforge.bench.picking.predict import predict
    from seisforge.bench.picking.score import score
    from seisforge.bench.picking.targets import generate_targets
    from seisforge.data.synthetic import SynthConfig, synthesize
    from seisforge.demo import train_demo_model

    synthesize(SynthConfig(events=16, noise_traces=8, seed=0), root / "data")
    generate_targets(root / "data", root / "targets", seed=42)
    run = train_demo_model(root / "data", root / "runs", overrides=[
        "train.epochs=1", "train.steps_per_epoch=3", "train.batch_size=8", "name=tiny"])
    predict(root / "data", root / "targets", "stalta", root / "pred" / "stalta")
    predict(root / "data", root / "targets", f"run:{run}", root / "pred" / "tiny")
    for name in ("stalta", "tiny"):
        score(root / "pred" / name, n_boot=50)
    assert main(["bench", "leaderboard", str(root / "pred" / "stalta"), str(root / "pred" / "tiny"),
                 "--out", str(root / "leaderboard")]) == 0
    return run


def _picks(root: Path, run: Path) -> None:
    """A 15-minute synthetic stream picked with the tiny run (low thresholds: it is barely trained)."""
    from seisforge.testing import continuous_stream

    st, _ = continuous_stream("XX.SYN.00", start="2024-01-01T00:00:00", duration_s=900, n_events=5, seed=1)
    (root / "cont").mkdir()
    st.write(str(root / "cont" / "XX.SYN.00.mseed"), format="MSEED", encoding="FLOAT32")
    assert main(["pick", "--no-progress", "--model", f"run:{run}", "--input", str(root / "cont"),
                 "--out", str(root / "picks"), "--threshold-P", "0.05", "--threshold-S", "0.05"]) == 0


def _ctf(root: Path) -> None:
    top = root / "ctf"  # the official ctf4science layout: data/<name>/, results/<name>/<model>/<batch>/
    assert main(["ctf", "simulate", "das", "--size", "tiny", "--seed", "0", "--out", str(top)]) == 0
    for model in ("zero", "mean"):
        assert main(["ctf", "run", "--data", str(top / "data" / "das_tiny"), "--model", model,
                     "--out", str(top), "--batch-id", model]) == 0


def _tune(root: Path, run: Path) -> None:
    """A tune folder in ``seisforge tune``'s layout (trials.csv, trial runs, best config, summary).

    Written here rather than run: Ray start-up alone would exceed this module's time budget. The trial
    histories are the tiny run's real metrics.csv.
    """
    out = root / "tune"
    m = pd.read_csv(run / "metrics.csv")
    for tid, scale in (("a", 1.0), ("b", 1.3)):
        (out / "trials" / f"trial_{tid}").mkdir(parents=True)
        two = pd.concat([m, m.assign(epoch=m["epoch"] + 1, dev_loss=m["dev_loss"] * 0.9)])
        (two if tid == "a" else m).assign(dev_loss=lambda d, s=scale: d["dev_loss"] * s).to_csv(
            out / "trials" / f"trial_{tid}" / "metrics.csv", index=False)
    pd.DataFrame({"trial_id": ["a", "b"], "dev_loss": [m["dev_loss"].iloc[-1] * 0.9, m["dev_loss"].iloc[-1] * 1.3],
                  "training_iteration": [2, 1], "config/optim.lr": [0.01, 0.1]}).to_csv(out / "trials.csv", index=False)
    (out / "best_config.yaml").write_text("optim:\n  lr: 0.01\n")
    (out / "tune_summary.json").write_text(json.dumps({"metric": "dev_loss", "best_metric": 0.9, "errors": []}))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report_inputs")
    run = _bench(root)
    _picks(root, run)
    _ctf(root)
    _tune(root, run)
    (root / "compression").mkdir()
    (root / "compression" / "compression_report.json").write_text(json.dumps({"size_mb": {"fp32": 1.2, "int8": 0.4}}))
    return root


@pytest.fixture(scope="module")
def report(outputs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(outputs), "--out", str(out), "--title", "test report"]) == 0
    return out / "index.html"


def test_every_kind_detected(outputs):
    from seisforge.report import detect

    found, unknown = detect([outputs])
    assert {k: sorted(p.name for p in v) for k, v in found.items()} == {
        "picking": ["leaderboard", "stalta", "tiny"], "training": ["tiny"], "tuning": ["tune"],
        "continuous": ["picks"], "ctf": ["mean", "zero"], "compression": ["compression"]}
    assert unknown == []


def test_numbers_come_from_the_files(report, outputs):
    html = report.read_text()
    for kind in ("picking", "training", "tuning", "continuous", "ctf", "compression"):
        assert f'<section id="{kind}">' in html
    assert "Reliability on test" in html  # the calibration figure of bench score's metrics
    met = json.loads((outputs / "pred" / "stalta" / "metrics.json").read_text())
    v, (lo, hi) = met["metrics"]["test_det_auc"], met["ci95"]["test_det_auc"]
    assert f"{v:.3f} [{lo:.3f}, {hi:.3f}]" in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert "No gallery" not in html and "No waveform strip" not in html  # both were rebuilt from the data


def test_gallery_selection(outputs):
    from seisforge.report.renderers.gallery import select_windows

    pred = outputs / "pred" / "tiny"
    result = json.loads((pred / "metrics.json").read_text())
    cats = select_windows(pred, result, 3, seed=0)
    assert set(cats) >= {"worst misses", "largest residuals", "random sample", "false picks on noise"}
    assert (cats["worst misses"]["_prob"] < cats["worst misses"]["_thr"]).all()
    assert list(cats["worst misses"]["_prob"]) == sorted(cats["worst misses"]["_prob"])
    assert set(cats["false picks on noise"]["trace_type"]) == {"noise"}
    assert cats["random sample"].index.equals(select_windows(pred, result, 3, seed=0)["random sample"].index)


def test_unknown_input_is_a_user_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="known kind"):
        from seisforge.report import build_report

        build_report([tmp_path / "empty"], tmp_path / "out")


def test_a_new_kind_is_one_registered_class(tmp_path, monkeypatch):
    from seisforge.report import build, core, page

    monkeypatch.setattr(core, "_REGISTRY", list(build.renderers()))

    @core.register
    class Hello:
        kind, title, order = "hello", "Hello", 99

        def detect(self, path):
            return (path / "hello.txt").is_file()

        def render(self, paths, ctx):
            return core.Section(self.kind, self.title, [page.note((paths[0] / "hello.txt").read_text())])

    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "hello.txt").write_text("hi there")
    index = build.build_report([tmp_path], tmp_path / "out")
    assert '<section id="hello">' in index.read_text() and "hi there" in index.read_text()


def test_report_in_headless_chromium(report, outputs):
    pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e '.[dev]')")
    from seisforge.report.browser import find_chromium, inspect_report

    if find_chromium() is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium, or set $CHROMIUM)")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    seen = inspect_report(report, screenshot=shot, click_sort="leaderboard")
    print(f"screenshot: {shot}")
    assert seen["console_errors"] == [] and seen["page_errors"] == []
    assert seen["blocked"] == [] and all(u.startswith(("file:", "data:")) for u in seen["requests"])
    assert len(seen["images"]) >= 10 and all(ok and w > 0 and h > 0 for ok, w, h in seen["images"])
    met = {n: json.loads((outputs / "pred" / n / "metrics.json").read_text()) for n in ("stalta", "tiny")}
    picks_days = {p.parent.parent.name + p.parent.name for p in (outputs / "picks" / "picks").glob("station=*/day=*/*.parquet")}
    assert seen["tables"]["leaderboard"] == 2 and seen["tables"]["paired"] > 0
    assert seen["tables"]["bins"] == sum(len(m["bins"]) for m in met.values())
    assert seen["tables"]["station-days"] == len(picks_days) and seen["tables"]["ctf"] == 2
    assert seen["tables"]["trials-tune"] == 2
    srt = seen["sort"]
    assert srt["asc"] == sorted(srt["before"]) and srt["desc"] == sorted(srt["before"], reverse=True)
    assert shot.stat().st_size > 10_000 and re.match(rb"\x89PNG", shot.read_bytes()[:4])
