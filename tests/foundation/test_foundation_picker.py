"""EncoderPicker is a SeisBench picker: annotate, classify, save/load, PhaseNet's normalisation."""

from __future__ import annotations

import numpy as np
import obspy
import pytest
import seisbench.models as sbm
import seisbench.util as sbu
import torch

from seisforge.errors import ConfigError
from seisforge.models.adapt import AdaptConfig, apply
from seisforge.models.encoders import EncoderPicker

SMALL = {"patch_samples": 50, "d_model": 16, "depth": 1, "n_heads": 2}


@pytest.fixture(scope="module")
def stream() -> obspy.Stream:
    """60 s of 3-component random noise at 100 Hz."""
    rng = np.random.default_rng(0)
    start = obspy.UTCDateTime(2020, 1, 1)
    return obspy.Stream([obspy.Trace(rng.normal(size=6000).astype(np.float32),
                                     header={"network": "XX", "station": "S1", "channel": f"HH{c}",
                                             "sampling_rate": 100.0, "starttime": start}) for c in "ZNE"])


@pytest.fixture(scope="module")
def picker() -> EncoderPicker:
    torch.manual_seed(0)
    return EncoderPicker(**SMALL).eval()


def test_annotate_gives_one_curve_per_label(picker, stream):
    ann = picker.annotate(stream)
    assert sorted(tr.stats.channel for tr in ann) == ["EncoderPicker_N", "EncoderPicker_P", "EncoderPicker_S"]
    assert all(tr.stats.sampling_rate == 100.0 and tr.stats.npts == 6000 for tr in ann)
    total = sum(tr.data for tr in ann)                                  # softmax over the three classes
    assert np.allclose(total[~np.isnan(total)], 1.0, atol=1e-5)


def test_classify_returns_picks(picker, stream):
    out = picker.classify(stream, P_threshold=0.99, S_threshold=0.99)
    assert isinstance(out, sbu.ClassifyOutput) and isinstance(out.picks, sbu.PickList)


def test_forward_is_softmax_over_phasenet_label_order(picker):
    x = torch.randn(2, 3, 3001)
    with torch.no_grad():
        probs, logits = picker(x), picker(x, logits=True)
    assert picker.labels == "PSN" and probs.shape == (2, 3, 3001)
    assert torch.allclose(probs, torch.softmax(logits, dim=1))


@pytest.mark.parametrize("norm", ["std", "peak"])
def test_window_normalisation_is_phasenets(norm):
    x = torch.randn(4, 3, 3001) * 7 + 3
    ours = EncoderPicker(norm=norm, **SMALL).annotate_batch_pre(x.clone(), {})
    theirs = sbm.PhaseNet(norm=norm).annotate_batch_pre(x.clone(), {})
    assert torch.equal(ours, theirs)


def test_save_load_round_trip(picker, tmp_path):
    picker.save(tmp_path / "picker")
    loaded = EncoderPicker.load(tmp_path / "picker").eval()
    assert loaded.get_model_args() == picker.get_model_args()
    x = torch.randn(2, 3, 3001)
    with torch.no_grad():
        assert torch.equal(loaded(x), picker(x))


def test_hydrophone_picker_and_short_windows(tmp_path):
    model = EncoderPicker(in_channels=4, in_samples=1000, **SMALL).eval()
    assert model.component_order == "ZNEH" and model.default_args["overlap"] == 500
    model.save(tmp_path / "obs")
    assert EncoderPicker.load(tmp_path / "obs").component_order == "ZNEH"
    with pytest.raises(ConfigError, match="component_order"):
        EncoderPicker(in_channels=4, component_order="ZNE")


def test_adapted_picker_still_annotates(stream):
    torch.manual_seed(0)
    model = apply(EncoderPicker(**SMALL), AdaptConfig("lora", rank=2)).eval()
    assert len(model.annotate(stream)) == 3
