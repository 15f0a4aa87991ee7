"""One model-spec grammar (seisforge.models.registry) for every command that takes a model."""

from __future__ import annotations

import argparse
import dataclasses

import pandas as pd
import pytest

from seisforge.cli import main
from seisforge.errors import ConfigError
from seisforge.models import registry
from seisforge.models.registry import ModelSpec, parse_spec

FORMS = {
    "seisbench:PhaseNet": ModelSpec("seisbench", "PhaseNet"),
    "PhaseNet": ModelSpec("seisbench", "PhaseNet"),
    "PhaseNetLight": ModelSpec("seisbench", "PhaseNetLight"),
    "stalta": ModelSpec("stalta"),
    "stalta:aic": ModelSpec("stalta", "aic"),
    "stalta:baer": ModelSpec("stalta", "baer"),
    "run:runs/a": ModelSpec("run", "runs/a"),
    "ensemble:run:runs/a,PhaseNet@w/ethz": ModelSpec("ensemble", "run:runs/a,PhaseNet@w/ethz"),
}
BAD = ("foo:bar", "seisbench:", "run:", "ensemble", "runs/a", "Phase Net", "")


class Seen(BaseException):  # not an Exception: cli.main turns those into "a bug" lines
    """Raised by the stand-in loaders with the spec they were given."""

    def __init__(self, spec: ModelSpec):
        super().__init__(str(spec))
        self.spec = spec


@pytest.fixture
def recording_loaders(monkeypatch):
    """Every spec kind's loader replaced by one that raises :class:`Seen` with the parsed spec."""
    def seen(spec, **_):
        raise Seen(spec)

    from seisforge.deploy import runner

    for kind, entry in list(registry.KINDS.items()):
        monkeypatch.setitem(registry.KINDS, kind, dataclasses.replace(entry, load=seen))
    monkeypatch.setattr(runner, "_MODELS", {})  # a model cached by an earlier test would skip the loader
    monkeypatch.setattr(runner, "_PICKERS", {})


@pytest.mark.parametrize("text", FORMS)
def test_spec_forms(text):
    spec = parse_spec(text)
    assert spec == FORMS[text]
    assert parse_spec(str(spec)) == spec
    assert str(spec) == (text if ":" in text or text == "stalta" else f"seisbench:{text}")


@pytest.mark.parametrize("text", BAD)
def test_bad_spec_is_one_clear_error(text):
    with pytest.raises(ConfigError) as err:
        parse_spec(text)
    msg = str(err.value)
    assert repr(text) in msg
    for form in ("seisbench:<Class>", "<Class>", "stalta[:aic|:baer]", "run:DIR", "ensemble:SPEC1,SPEC2"):
        assert form in msg
    with pytest.raises(ConfigError, match="bad model spec"):
        registry.load_model(text)


def test_bad_spec_on_the_command_line(tmp_path, capsys):
    assert main(["bench", "predict", "--dataset", str(tmp_path), "--targets", str(_targets(tmp_path)),
                 "--model", "foo:bar", "--out", str(tmp_path / "o")]) == 2
    assert "bad model spec 'foo:bar'" in capsys.readouterr().err


def _targets(tmp_path):
    tdir = tmp_path / "targets"
    tdir.mkdir(exist_ok=True)
    pd.DataFrame([{"trace_name": "x", "trace_split": "test", "sampling_rate": 100.0, "start_sample": 0,
                   "end_sample": 3000, "trace_type": "noise"}]).to_csv(tdir / "task1.csv", index=False)
    return tdir


def _bench_predict(text, tmp_path):
    main(["bench", "predict", "--dataset", str(tmp_path / "nodata"), "--targets", str(_targets(tmp_path)),
          "--model", text, "--out", str(tmp_path / "pred")])


def _pick(text, tmp_path):
    assert main(["pick", "--model", text, "--input", str(tmp_path), "--out", str(tmp_path / "picks")]) == 2


def _train_teacher(text, tmp_path):
    from seisforge.config import from_dict
    from seisforge.train.config import TrainConfig
    from seisforge.train.loop import train

    train(from_dict(TrainConfig, {"model": {"cls": "PhaseNet"}, "loss": {"kd": {"teacher": text}},
                                  "run": {"root": str(tmp_path / "runs")}}))


def _train_model(text, tmp_path):
    from seisforge.train.config import ModelConfig
    from seisforge.train.student import build_picker

    loaded = build_picker(ModelConfig(cls=text))
    raise Seen(parse_spec(loaded.spec))  # random init: built here, not by a registry loader


def _data_screening(text, tmp_path):
    from seisforge.commands.data_manifest import _screener  # clean-labels and noise-pool

    _screener(argparse.Namespace(model=text, weights=None, pretrained=None, device="cpu", batch_size=8))


#: entry point -> the kinds it can use (None: all)
ENTRY_POINTS = {
    _bench_predict: None,
    _pick: registry.PICK_COMMAND_KINDS,
    _train_model: registry.SEISBENCH_KINDS,
    _train_teacher: None,
    _data_screening: None,
}


@pytest.mark.parametrize("text", FORMS)
@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda f: f.__name__.strip("_"))
def test_every_entry_point_parses_the_same(entry, text, tmp_path, recording_loaders, capsys):
    kinds = ENTRY_POINTS[entry]
    spec = parse_spec(text)
    if kinds is not None and spec.kind not in kinds:
        if entry is _pick:
            entry(text, tmp_path)  # the CLI reports the ConfigError and exits 2
            assert repr(text) in capsys.readouterr().err
        else:
            with pytest.raises(ConfigError, match="cannot use model spec"):
                entry(text, tmp_path)
        return
    if entry is _pick:
        with pytest.raises(Seen) as seen:
            main(["pick", "--model", text, "--input", str(tmp_path), "--out", str(tmp_path / "picks")])
    else:
        with pytest.raises(Seen) as seen:
            entry(text, tmp_path)
    assert seen.value.spec == spec


def test_bare_class_in_bench_predict(tmp_path, shared):
    """``--model PhaseNetLight`` predicts exactly as ``--model seisbench:PhaseNetLight``."""
    from seisforge.bench.picking.targets import generate_targets
    from seisforge.data.synthetic import SynthConfig, synthesize

    synthesize(SynthConfig(events=4, noise_traces=2, seed=5), tmp_path / "data")
    generate_targets(tmp_path / "data", tmp_path / "targets", seed=1)
    weights = str(shared / "models/phasenetlight_ethz/ethz")
    for name, spec in (("bare", "PhaseNetLight"), ("prefixed", "seisbench:PhaseNetLight")):
        assert main(["bench", "predict", "--dataset", str(tmp_path / "data"), "--targets", str(tmp_path / "targets"),
                     "--model", spec, "--weights", weights, "--out", str(tmp_path / name)]) == 0
    for f in sorted((tmp_path / "prefixed").glob("*.csv")):
        pd.testing.assert_frame_equal(pd.read_csv(f), pd.read_csv(tmp_path / "bare" / f.name))


def test_loaded_model_carries_its_source(shared):
    loaded = registry.load_model("PhaseNetLight", weights=shared / "models/phasenetlight_ethz/ethz")
    assert loaded.spec == "seisbench:PhaseNetLight" and loaded.source.endswith("ethz (v2)")
    assert not hasattr(loaded.model, "_seisforge_source")
    stalta = registry.load_model("stalta:baer")
    assert stalta.source == stalta.model.version and stalta.spec == "stalta:baer"
