"""The unadapted base model of an adaptation, rebuilt from its description (no training code).

An adaptation run records its base as a small dict (``best/seisforge.json`` -> ``base``):

``{"spec": "pretrain:RUN", "picker": {...}}``
    A ``seisforge pretrain`` run directory (``RUN/encoder.json`` + ``RUN/encoder.safetensors``). A
    ``patch_transformer`` encoder becomes an :class:`~seisforge.models.encoders.pickers.EncoderPicker`
    (``picker`` holds its picker settings: ``in_samples``, ``norm``, ``smooth_kernel``, ``phases``); a
    ``phasenet`` encoder is loaded into the encoder half of a fresh SeisBench PhaseNet/PhaseNetLight
    (``args["seisbench_class"]``, default PhaseNetLight), whose decoder starts at random.
``{"spec": "seisbench:<Class>", "weights": PAIR}``
    A SeisBench picker with a weight pair (:func:`~seisforge.models.seisbench_pickers.load_seisbench`).

The task head of a picker built on a pretrain encoder is freshly initialised; it travels in the adapter
file (``train_head``), and :func:`~seisforge.models.adapt.io.base_hash` leaves it out, so a seeded or
unseeded head gives the same base hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from seisforge.errors import ConfigError, DataError
from seisforge.models.encoders.phasenet_encoder import PhaseNetEncoder
from seisforge.models.encoders.pickers import EncoderPicker
from seisforge.models.seisbench_pickers import load_seisbench, seisbench_class

ENCODER_KINDS = ("patch_transformer", "phasenet")


def read_pretrain_run(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(encoder info, encoder state dict)`` of a pretrain run directory.

    Uses :func:`seisforge.models.encoders.pretrained.load_pretrained_encoder` when that module exists
    (the ``seisforge pretrain`` side); otherwise reads the documented run-directory contract itself
    (``encoder.json``: kind, args, in_channels, component_order, sampling_rate, window_samples;
    ``encoder.safetensors``: the encoder's state dict).
    """
    run_dir = Path(run_dir)
    info_path, weights_path = run_dir / "encoder.json", run_dir / "encoder.safetensors"
    if not info_path.is_file() or not weights_path.is_file():
        raise DataError(f"{run_dir} is not a seisforge pretrain run (needs encoder.json and encoder.safetensors)")
    info = json.loads(info_path.read_text())
    if info.get("kind") not in ENCODER_KINDS:
        raise DataError(f"{info_path}: encoder kind {info.get('kind')!r} is not one of {ENCODER_KINDS}")
    from safetensors.torch import load_file

    return info, load_file(str(weights_path))


def picker_from_pretrain(run_dir: str | Path, picker: dict[str, Any] | None = None) -> nn.Module:
    """A picker whose encoder holds the weights of pretrain run ``run_dir`` (see module docstring)."""
    info, state = read_pretrain_run(run_dir)
    picker = dict(picker or {})
    if info["kind"] == "patch_transformer":
        args = {k: v for k, v in info.get("args", {}).items() if k != "in_channels"}
        model = EncoderPicker(in_channels=int(info["in_channels"]), component_order=info["component_order"],
                              sampling_rate=float(info["sampling_rate"]),
                              in_samples=int(picker.pop("in_samples", info["window_samples"])), **args, **picker)
        target = model.encoder
    else:
        cls = seisbench_class(info.get("args", {}).get("seisbench_class", "PhaseNetLight"))
        model = cls(in_channels=int(info["in_channels"]), sampling_rate=float(info["sampling_rate"]),
                    component_order=info["component_order"], **picker)
        target = PhaseNetEncoder.from_seisbench(model)  # shares the model's layers
    missing, unexpected = target.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DataError(f"pretrain run {run_dir}: encoder weights do not fit the {info['kind']} encoder "
                        f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model


def build_base(base: dict[str, Any]) -> nn.Module:
    """The unadapted base model described by ``base`` (see module docstring), in eval mode."""
    spec = str(base.get("spec", ""))
    kind, _, arg = spec.partition(":")
    if kind == "pretrain" and arg:
        model = picker_from_pretrain(arg, base.get("picker"))
    elif kind == "seisbench" and arg:
        if not base.get("weights"):
            raise ConfigError(f"base {spec} needs weights (a SeisBench weight pair)")
        model = load_seisbench(arg, weights=base["weights"]).model
    else:
        raise ConfigError(f"base {spec!r} is not pretrain:RUN_DIR or seisbench:<Class> (with weights)")
    return model.eval()
