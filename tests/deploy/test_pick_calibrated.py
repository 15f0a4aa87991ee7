"""``seisforge pick --calibrated``: calibrated thresholds map to raw ones, so the picks equal raw picking there."""

from __future__ import annotations

import json

import pytest

from seisforge.bench.picking.calibration import inverse_threshold
from seisforge.cli import main
from seisforge.deploy.store import read_picks
from seisforge.models.card import card_from_seisbench, write_card


def test_pick_calibrated_equals_raw_picks_at_the_mapped_threshold(shared, weights, model, tmp_path):
    cal = {"method": "temperature", "fitted_on": "dev", "pred_dir": str(tmp_path), "model": "seisbench:PhaseNetLight",
           "maps": {"P": {"temperature": 0.5}, "S": {"temperature": 2.0}}}
    card = write_card(card_from_seisbench(model, calibration=cal, thresholds={"P": 0.2, "S": 0.6}),
                      tmp_path / "model_card.json")
    src = str(shared / "data" / "obs_iquique")
    base = ["pick", "--no-progress", "--model", "PhaseNetLight", "--weights", weights, "--input", src]
    assert main([*base, "--calibrated", str(card), "--threshold-S", "0.4", "--out", str(tmp_path / "cal")]) == 0
    raw_p = inverse_threshold(0.2, "temperature", {"temperature": 0.5})   # the card's P threshold
    raw_s = inverse_threshold(0.4, "temperature", {"temperature": 2.0})   # the given S threshold
    assert main([*base, "--threshold-P", repr(raw_p), "--threshold-S", repr(raw_s), "--out", str(tmp_path / "raw")]) == 0
    a, b = read_picks(tmp_path / "cal"), read_picks(tmp_path / "raw")
    assert len(a) >= 1
    key = ["trace_id", "phase", "peak_time", "start_time", "end_time", "peak_value"]
    assert a.sort_values(key)[key].reset_index(drop=True).equals(b.sort_values(key)[key].reset_index(drop=True))
    run = json.loads((tmp_path / "cal" / "run.json").read_text())
    assert run["calibrated"]["thresholds"] == {"P": 0.2, "S": 0.4}
    assert run["calibrated"]["raw_thresholds"]["P"] == pytest.approx(raw_p)
