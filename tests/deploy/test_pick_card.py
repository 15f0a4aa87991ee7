"""``seisforge pick`` checks the model card against every instrument of every stream it reads."""

from __future__ import annotations

import json

import numpy as np
import obspy
import pytest

from seisforge.cli import main
from seisforge.data.continuous.preprocess import check_against_card
from seisforge.models.card import ModelCard, card_from_seisbench, write_card
from seisforge.runinfo import RunReport


def _trace(inst: str, comp: str, rate: float) -> obspy.Trace:
    net, sta, loc = inst.split(".")
    tr = obspy.Trace(np.random.default_rng(0).normal(size=int(60 * rate)).astype(np.float32))
    tr.stats.update({"network": net, "station": sta, "location": loc, "channel": f"HH{comp}",
                     "sampling_rate": rate})
    return tr


def test_each_instrument_is_checked_and_counted():
    card = ModelCard(model_class="PhaseNet", sampling_rate=100.0, window_samples=3001, component_order="ZNE",
                     labels="PSN")
    st = obspy.Stream([_trace("XX.OK.", c, 100) for c in "ZNE"] + [_trace("XX.SLOW.", c, 50) for c in "Z12"]
                      + [_trace("XX.ZONLY.", "Z", 100)] + [_trace("XX.NOZ.", c, 100) for c in "NE"])
    report = RunReport(command="unit")
    out = check_against_card(st, card, report, "day1")
    assert report.handled == {"card_resampled": 1, "card_missing_horizontal": 1}
    assert report.examples["handled:card_resampled"] == ["day1:XX.SLOW."]
    assert report.examples["handled:card_missing_horizontal"] == ["day1:XX.ZONLY.:NE"]
    assert report.skipped == {"card_component_mismatch": 1}
    assert report.examples["skipped:card_component_mismatch"] == ["day1:XX.NOZ."]
    assert report.notes["card_checked_instruments"] == 4
    assert sorted({tr.stats.station for tr in out}) == ["OK", "SLOW", "ZONLY"]   # the unmatched one is not picked
    # an ocean-bottom card needs the hydrophone: land data cannot be matched
    obs = ModelCard(model_class="EncoderPicker", sampling_rate=100.0, window_samples=3001,
                    component_order="ZNEH", labels="PSN")
    report = RunReport(command="unit")
    assert len(check_against_card(st, obs, report, "day1")) == 0
    assert report.skipped == {"card_component_mismatch": 4}


@pytest.fixture()
def carded_run(tmp_path, model):
    """PhaseNetLight ETHZ as a run directory with its model card (``run:DIR``)."""
    from seisforge.models.run_dir import save_best

    run = tmp_path / "plight"
    save_best(model, run, "test")
    write_card(card_from_seisbench(model), run)
    return run


def test_pick_counts_resampling_and_refuses_unmatched_components(tmp_path, shared, carded_run):
    src = shared / "data" / "obs_iquique"          # 50 Hz Z, N, E and a hydrophone
    base = ["pick", "--no-progress", "--model", f"run:{carded_run}"]
    assert main([*base, "--input", str(src), "--out", str(tmp_path / "ok")]) == 0
    rep = json.loads((tmp_path / "ok" / "run_report.json").read_text())
    assert rep["handled"]["card_resampled"] == 1 and rep["notes"]["card_checked_instruments"] == 1
    assert "card_component_mismatch" not in rep["skipped"]
    assert rep["notes"]["model_card"].startswith("checked per instrument")
    horizontals = tmp_path / "no_z"                # the same record without its vertical
    horizontals.mkdir()
    for f in src.iterdir():
        if ".HHZ." not in f.name:
            (horizontals / f.name).symlink_to(f)
    assert main([*base, "--input", str(horizontals), "--out", str(tmp_path / "bad")]) == 1
    rep = json.loads((tmp_path / "bad" / "run_report.json").read_text())
    assert rep["skipped"]["card_component_mismatch"] == 1 and rep["notes"]["n_picks"] == 0
    assert rep["examples"]["skipped:card_component_mismatch"][0].endswith("IQ.OBS1.")
