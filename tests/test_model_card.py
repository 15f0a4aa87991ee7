"""Model cards: validation, round trip, and the rules applied when a model meets data."""

import json

import pytest
import seisbench.models as sbm

from seisforge.errors import DataError
from seisforge.models.card import (
    ModelCard,
    card_from_seisbench,
    check_card_against_data,
    read_card,
    write_card,
)


def _card(**kw):
    base = dict(model_class="PhaseNet", sampling_rate=100.0, window_samples=3001, component_order="ZNE",
                labels="PSN", thresholds={"P": 0.3, "S": 0.3})
    base.update(kw)
    return ModelCard(**base)


def test_card_round_trips(tmp_path):
    card = _card(training={"method": "train", "data_hash": "abc"})
    write_card(card, tmp_path)
    assert read_card(tmp_path) == card


def test_card_from_seisbench_reads_the_model():
    card = card_from_seisbench(sbm.PhaseNet(component_order="ZNE"))
    assert (card.sampling_rate, card.window_samples, card.component_order, card.labels) == (100.0, 3001, "ZNE", "NPS")
    assert card.normalisation["amp_norm"] == "std" and set(card.thresholds) == {"P", "S"}


@pytest.mark.parametrize("field,value,words", [
    ("sampling_rate", 0, "sampling_rate"), ("window_samples", -1, "window_samples"),
    ("component_order", "ZZE", "component_order"), ("thresholds", {"P": 1.5}, "thresholds"),
])
def test_bad_cards_are_refused_with_the_field_named(field, value, words):
    with pytest.raises(DataError, match=words):
        _card(**{field: value})


def test_unreadable_card_names_the_file(tmp_path):
    (tmp_path / "model_card.json").write_bytes(b"\x00\xff garbage")
    with pytest.raises(DataError, match="model_card.json"):
        read_card(tmp_path)
    (tmp_path / "model_card.json").write_text(json.dumps({"model_class": "X"}))
    with pytest.raises(DataError, match="lacks"):
        read_card(tmp_path)


def test_rules_when_a_model_meets_data():
    card = _card()
    same = check_card_against_data(card, 100.0, "ZNE")
    assert same.resample_from is None and same.zero_filled == ()
    other = check_card_against_data(card, 50.0, "ZN")
    assert other.resample_from == 50.0 and other.zero_filled == ("E",) and len(other.notes) == 2
    with pytest.raises(DataError, match="missing Z"):
        check_card_against_data(card, 100.0, "NE")
    with pytest.raises(DataError, match="missing H"):
        check_card_against_data(_card(component_order="ZNEH"), 100.0, "ZNE")
