"""The unadapted base model of an adaptation, rebuilt from its description (no training code).

An adaptation run records its base as a small dict (``best/seisforge.json`` -> ``base``):

``{"spec": "pretrain:RUN", "picker": {...}}``
    A ``seisforge pretrain`` run directory, read by
    :func:`~seisforge.models.encoders.pretrained.load_pretrained_encoder`. A ``patch_transformer``
    encoder becomes an :class:`~seisforge.models.encoders.pickers.EncoderPicker` (``picker`` holds its
    picker settings: ``in_samples``, ``norm``, ``smooth_kernel``, ``phases``); a ``phasenet`` encoder is
    its SeisBench PhaseNet/PhaseNetLight, whose decoder starts at random from a fixed seed (see
    :func:`~seisforge.models.encoders.pretrained.build_encoder`), the same on every rebuild.
``{"spec": "seisbench:<Class>", "weights": PAIR}``
    A SeisBench picker with a weight pair (:func:`~seisforge.models.seisbench_pickers.load_seisbench`).

With ``"task": "detection"`` or ``"magnitude"`` (absent for picking) the base is an
:class:`~seisforge.models.encoders.pickers.EncoderTaskModel`: the same encoder (the pretrain run's
encoder, or the encoder half of the SeisBench picker, sharing its layers; the decoder is not part of
it) with a pooled :class:`~seisforge.models.encoders.heads.DetectionHead` or
:class:`~seisforge.models.encoders.heads.MagnitudeHead` (``"head"``: its ``offset``/``scale``, the
train split's magnitude mean and standard deviation). Its input (rate, window, components,
normalisation) is the pretrain run's (``picker.in_samples``/``picker.norm`` may override window and
normalisation) or the SeisBench picker's. The magnitude model takes demeaned windows (``norm: none``),
normalises each component itself by that rule and feeds the log10 of the scales to the head
(``amplitude_features``), since magnitude lives in the amplitude.

The task head of a picker built on a pretrain encoder is freshly initialised; it travels in the adapter
file (``train_head``), and :func:`~seisforge.models.adapt.io.base_hash` leaves it out, so a seeded or
unseeded head gives the same base hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from seisforge.errors import ConfigError
from seisforge.models.encoders.heads import DetectionHead, MagnitudeHead
from seisforge.models.encoders.patch_transformer import PatchTransformerEncoder
from seisforge.models.encoders.phasenet_encoder import PhaseNetEncoder
from seisforge.models.encoders.pickers import EncoderPicker, EncoderTaskModel
from seisforge.models.encoders.pretrained import load_pretrained_encoder
from seisforge.models.seisbench_pickers import load_seisbench


def picker_from_pretrain(run_dir: str | Path, picker: dict[str, Any] | None = None) -> nn.Module:
    """A picker whose encoder holds the weights of pretrain run ``run_dir`` (see module docstring)."""
    encoder, info = load_pretrained_encoder(run_dir)
    picker = dict(picker or {})
    if info["kind"] == "phasenet":
        if picker:
            raise ConfigError(f"picker settings {sorted(picker)} apply to a patch-transformer base only; the "
                              f"phasenet base of {run_dir} keeps its SeisBench model's settings")
        return info["seisbench_model"]  # its encoder layers are the loaded encoder's (shared objects)
    args = {k: v for k, v in encoder.config().items() if k != "in_channels"}
    model = EncoderPicker(in_channels=int(info["in_channels"]), component_order=info["component_order"],
                          sampling_rate=float(info["sampling_rate"]),
                          in_samples=int(picker.pop("in_samples", info["window_samples"])), **args, **picker)
    model.encoder.load_state_dict(encoder.state_dict())
    return model


def task_model_from_base(base: dict[str, Any]) -> EncoderTaskModel:
    """A detection or magnitude model on the encoder of ``base`` (see module docstring)."""
    spec, task = str(base.get("spec", "")), base["task"]
    kind, _, arg = spec.partition(":")
    picker = dict(base.get("picker") or {})
    unknown = sorted(set(picker) - {"in_samples", "norm"})
    if unknown:
        raise ConfigError(f"picker settings {unknown} do not apply to task {task}; it takes in_samples and norm")
    if kind == "pretrain" and arg:
        encoder, info = load_pretrained_encoder(arg)
        meta = {"sampling_rate": float(info["sampling_rate"]), "component_order": info["component_order"],
                "in_samples": int(picker.get("in_samples", info["window_samples"])),
                "norm": picker.get("norm", "std")}
    elif kind == "seisbench" and arg:
        if not base.get("weights"):
            raise ConfigError(f"base {spec} needs weights (a SeisBench weight pair)")
        model = load_seisbench(arg, weights=base["weights"]).model
        encoder = PhaseNetEncoder.from_seisbench(model)
        meta = {"sampling_rate": float(model.sampling_rate), "component_order": str(model.component_order),
                "in_samples": int(picker.get("in_samples", model.in_samples)),
                "norm": picker.get("norm", getattr(model, "norm", "std"))}
    else:
        raise ConfigError(f"base {spec!r} is not pretrain:RUN_DIR or seisbench:<Class> (with weights)")
    token = isinstance(encoder, PatchTransformerEncoder)
    dim = encoder.d_model if token else encoder.out_channels
    if task == "detection":
        head: nn.Module = DetectionHead(dim, channels_last=token)
    elif task == "magnitude":  # the model normalises itself and gives the head the log amplitudes
        head = MagnitudeHead(dim, channels_last=token, extra=len(meta["component_order"]),
                             **dict(base.get("head") or {}))
        meta["amplitude_features"], meta["norm"] = meta["norm"], "none"
    else:
        raise ConfigError(f"task {task!r} has no pooled head; tasks with one: detection, magnitude")
    return EncoderTaskModel(encoder, head, task=task, **meta)


def build_base(base: dict[str, Any]) -> nn.Module:
    """The unadapted base model described by ``base`` (see module docstring), in eval mode."""
    spec = str(base.get("spec", ""))
    kind, _, arg = spec.partition(":")
    if base.get("task", "picking") != "picking":
        return task_model_from_base(base).eval()
    if kind == "pretrain" and arg:
        model = picker_from_pretrain(arg, base.get("picker"))
    elif kind == "seisbench" and arg:
        if not base.get("weights"):
            raise ConfigError(f"base {spec} needs weights (a SeisBench weight pair)")
        model = load_seisbench(arg, weights=base["weights"]).model
    else:
        raise ConfigError(f"base {spec!r} is not pretrain:RUN_DIR or seisbench:<Class> (with weights)")
    return model.eval()
