"""Model registry: the one grammar of model specs, and the one place that parses and loads them.

Every command that takes a model takes the same specs, parsed here by :func:`parse_spec`:
``bench predict --model``, ``pick --model``, ``data clean-labels --model``, ``data noise-pool --model``
and, in training configs, ``model.cls`` and ``loss.kd.teacher``. A command that can use only some
kinds (``pick`` and training need a SeisBench model) says so with a :class:`ConfigError` naming the
spec.

Grammar
-------
``seisbench:<Class>``, or the bare ``<Class>``
    Any SeisBench picker class (``PhaseNet``, ``PhaseNetLight``, ``EQTransformer``, ...); a bare
    identifier that is not a spec kind below is a class name, so ``PhaseNet`` is ``seisbench:PhaseNet``.
    Weights come from ``weights`` (a SeisBench weight pair: ``.../ethz`` for ``ethz.json.v2`` +
    ``ethz.pt.v2``, the folder holding one pair, or either file) or ``pretrained`` (a SeisBench hub
    name; needs network or the local SeisBench cache); see
    :func:`seisforge.models.seisbench_pickers.load_seisbench`.
``stalta``, ``stalta:aic``, ``stalta:baer``
    The classical baseline in :mod:`seisforge.models.stalta` (``stalta`` is ``stalta:aic``).
``run:DIR``
    The selected model of a seisforge run (:mod:`seisforge.models.run_dir`): a ``seisforge train`` run,
    a ``seisforge adapt`` run (its base rebuilt, its adapter applied and checked against the base's hash)
    or the output of ``seisforge adapt merge``. A ``seisforge pretrain`` run is an encoder without a task
    head, so ``run:`` on it is a clear error; adaptation configs name it as ``base: pretrain:DIR``.
``onnx:PATH``
    A picker exported by ``seisforge export`` (a ``.onnx`` file, or the folder holding ``model.onnx``),
    run without its torch class (:mod:`seisforge.models.onnx_picker`); its embedded model card gives
    the sampling rate, components, normalisation, labels and thresholds.
``openvino:PATH``
    An OpenVINO IR picker written by ``seisforge export --format openvino`` or ``seisforge compress``
    (``model.xml`` or its folder), run by OpenVINO; the card is in the IR's ``rt_info``.
``ensemble:SPEC1,SPEC2[,...]``
    Averaged probabilities of two or more SeisBench pickers (:mod:`seisforge.models.ensemble`); each
    member is a spec of this grammar, optionally with its weight pair as ``SPEC@WEIGHTS``
    (``ensemble:run:runs/a,PhaseNet@weights/ethz``).

The canonical text of a spec (``str(ModelSpec)``) writes the bare class name as ``seisbench:<Class>``
and leaves every other spec as given; ``parse_spec(str(spec)) == spec``.

Adding a kind
-------------
Write one loader, ``def _load_x(spec: ModelSpec, *, weights, pretrained, allow_random) -> LoadedModel``,
and add one :class:`SpecKind` entry to :data:`KINDS` (its key is the prefix before ``:``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from seisforge.errors import ConfigError
from seisforge.models.ensemble import EnsemblePicker, ensemble_members
from seisforge.models.loaded import LoadedModel
from seisforge.models.run_dir import load_run_dir
from seisforge.models.seisbench_pickers import load_seisbench

_BARE_CLASS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: its kind (the key in :data:`KINDS`) and the text after ``kind:``."""

    kind: str
    arg: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}" if self.arg else self.kind


@dataclass(frozen=True)
class SpecKind:
    """One entry of the grammar.

    Attributes
    ----------
    forms
        How the kind is written, for help texts and error messages.
    load
        ``load(spec, *, weights, pretrained, allow_random) -> LoadedModel``.
    needs_arg
        Whether ``kind:ARG`` needs a non-empty ``ARG``.
    """

    forms: str
    load: Callable[..., LoadedModel]
    needs_arg: bool = True


def _load_seisbench(spec: ModelSpec, *, weights, pretrained, allow_random) -> LoadedModel:
    return load_seisbench(spec.arg, weights=weights, pretrained=pretrained, allow_random=allow_random)


def _load_stalta(spec: ModelSpec, **_) -> LoadedModel:
    from seisforge.models.stalta import StaLtaPicker  # obspy.signal, only when STA/LTA is used

    picker = StaLtaPicker(onset=spec.arg or "aic")
    return LoadedModel(picker, source=picker.version, spec=str(spec))


def _load_run(spec: ModelSpec, **_) -> LoadedModel:
    return load_run_dir(spec.arg)


def _load_onnx(spec: ModelSpec, **_) -> LoadedModel:
    from seisforge.models.onnx_picker import load_onnx  # onnx and onnxruntime, only when used

    return load_onnx(spec.arg)


def _load_openvino(spec: ModelSpec, **_) -> LoadedModel:
    from seisforge.models.onnx_picker import load_openvino  # openvino, only when used

    return load_openvino(spec.arg)


def _load_ensemble(spec: ModelSpec, **_) -> LoadedModel:
    members = [load_model(s, weights=w) for s, w in ensemble_members(spec.arg)]
    picker = EnsemblePicker(members)
    return LoadedModel(picker, source=picker.version, spec=str(spec))


#: The grammar: spec kind (the prefix before ``:``) -> its entry. ``seisbench`` also takes bare names.
KINDS: dict[str, SpecKind] = {
    "seisbench": SpecKind("seisbench:<Class> | <Class>", _load_seisbench),
    "stalta": SpecKind("stalta[:aic|:baer]", _load_stalta, needs_arg=False),
    "run": SpecKind("run:DIR", _load_run),
    "ensemble": SpecKind("ensemble:SPEC1,SPEC2[,...]", _load_ensemble),
    "onnx": SpecKind("onnx:PATH", _load_onnx),
    "openvino": SpecKind("openvino:PATH", _load_openvino),
}

#: The kinds that load a SeisBench ``WaveformModel`` (what continuous picking and training need).
SEISBENCH_KINDS = ("seisbench", "run")
#: The kinds continuous picking can run: SeisBench array pickers and exported artifacts.
PICKING_KINDS = (*SEISBENCH_KINDS, "onnx", "openvino")
#: What ``seisforge pick`` takes: those, and STA/LTA (continuous triggers, :mod:`seisforge.deploy.stalta_stream`).
PICK_COMMAND_KINDS = (*PICKING_KINDS, "stalta")


def spec_forms(kinds: Collection[str] | None = None) -> str:
    """The written forms of ``kinds`` (default: all), for help texts and error messages."""
    return " | ".join(entry.forms for kind, entry in KINDS.items() if kinds is None or kind in kinds)


def parse_spec(text: str | ModelSpec, kinds: Collection[str] | None = None, user: str = "this command") -> ModelSpec:
    """Parse a model spec (grammar in the module docstring).

    Parameters
    ----------
    text
        The spec as written (a :class:`ModelSpec` is returned as is, after the ``kinds`` check).
    kinds
        The kinds the caller can use (default: all); another kind raises a :class:`ConfigError`.
    user
        Who asks, for that error (``"seisforge pick"``, ``"model.cls"``).

    Raises
    ------
    ConfigError
        For a spec outside the grammar (the message names the spec and lists the forms) or of a kind
        not in ``kinds``.
    """
    if isinstance(text, ModelSpec):
        spec = text
    else:
        kind, sep, arg = str(text).partition(":")
        if kind in KINDS and (arg or not KINDS[kind].needs_arg):
            spec = ModelSpec(kind, arg)
        elif not sep and kind not in KINDS and _BARE_CLASS.match(kind):
            spec = ModelSpec("seisbench", kind)
        else:
            raise ConfigError(f"bad model spec {text!r}; model specs are {spec_forms()} "
                              "(see seisforge.models.registry)")
    if kinds is not None and spec.kind not in kinds:
        raise ConfigError(f"{user} cannot use model spec {str(text)!r} (a {spec.kind} spec); it needs {spec_forms(kinds)}")
    return spec


def load_model(spec: str | ModelSpec, weights: str | Path | None = None, pretrained: str | None = None,
               allow_random: bool = False) -> LoadedModel:
    """Load the model a spec names (grammar in the module docstring).

    Parameters
    ----------
    spec
        A model spec, as text or parsed.
    weights, pretrained
        Weights for ``seisbench:`` specs (see :func:`seisforge.models.seisbench_pickers.load_seisbench`).
    allow_random
        ``seisbench:`` specs without weights: randomly initialised instead of an error.
    """
    spec = parse_spec(spec)
    return KINDS[spec.kind].load(spec, weights=weights, pretrained=pretrained, allow_random=allow_random)
