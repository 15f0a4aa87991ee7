"""Pretrained encoders on disk: the encoder files of a ``seisforge pretrain`` run directory.

A run directory holds ``encoder.safetensors`` (the encoder's ``state_dict`` only) and ``encoder.json``::

    {"kind": "patch_transformer" | "phasenet",
     "args": {...},                 # constructor kwargs (see below)
     "in_channels": C, "component_order": "ZNE", "sampling_rate": 100.0, "window_samples": 3000}

``args`` of ``patch_transformer`` are :meth:`PatchTransformerEncoder.config` (the constructor kwargs). For
``phasenet`` they are ``{"base": "PhaseNet" | "PhaseNetLight" | "VariableLengthPhaseNet", "model_args":
{...}}``: the SeisBench model is built with ``model_args`` (its ``get_model_args()``) and its encoder half
taken with :meth:`PhaseNetEncoder.from_seisbench`, so the SeisBench model (with an untrained decoder) is
available for picking adaptation. The schema is in ``docs/formats.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from seisforge.errors import DataError
from seisforge.models.encoders.patch_transformer import PatchTransformerEncoder
from seisforge.models.encoders.phasenet_encoder import PhaseNetEncoder

ENCODER_FILE = "encoder.safetensors"
ENCODER_JSON = "encoder.json"
PHASENET_BASES = ("PhaseNet", "PhaseNetLight", "VariableLengthPhaseNet")


def encoder_args(encoder: nn.Module, seisbench_model: Any = None) -> tuple[str, dict[str, Any]]:
    """``(kind, args)`` of ``encoder.json`` for an encoder (and, for ``phasenet``, its SeisBench model)."""
    if isinstance(encoder, PatchTransformerEncoder):
        return "patch_transformer", encoder.config()
    if isinstance(encoder, PhaseNetEncoder) and seisbench_model is not None:
        return "phasenet", {"base": type(seisbench_model).__name__, "model_args": seisbench_model.get_model_args()}
    raise DataError(f"cannot describe a {type(encoder).__name__} as a pretrained encoder")


def build_encoder(kind: str, args: dict[str, Any], init_seed: int | None = None) -> tuple[nn.Module, Any]:
    """A freshly initialised encoder from ``encoder.json``'s ``kind``/``args``: ``(encoder, seisbench_model)``
    (``seisbench_model`` None for the transformer).

    A ``phasenet`` model is initialised from ``init_seed`` (default 0) in a forked RNG: its decoder is not
    in ``encoder.safetensors``, so it must come out the same every time a run is rebuilt (at adaptation
    and again when ``run:DIR`` reloads the adapter, whose base hash covers the frozen decoder). The
    transformer draws from the caller's RNG unless ``init_seed`` is given.
    """
    import torch

    if kind == "patch_transformer":
        if init_seed is None:
            return PatchTransformerEncoder(**args), None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            return PatchTransformerEncoder(**args), None
    if kind == "phasenet":
        import seisbench.models as sbm

        if args.get("base") not in PHASENET_BASES:
            raise DataError(f"encoder.json: phasenet base must be one of {PHASENET_BASES}, got {args.get('base')!r}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if init_seed is None else init_seed)
            model = getattr(sbm, args["base"])(**args.get("model_args", {}))
        return PhaseNetEncoder.from_seisbench(model), model
    raise DataError(f"encoder.json: unknown encoder kind {kind!r} (patch_transformer or phasenet)")


def save_encoder(run_dir: str | Path, encoder: nn.Module, info: dict[str, Any]) -> None:
    """Write ``encoder.safetensors`` and ``encoder.json`` (``info``: the JSON fields) into ``run_dir``."""
    from safetensors.torch import save_file

    run_dir = Path(run_dir)
    tmp = run_dir / (ENCODER_FILE + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}, str(tmp))
    tmp.replace(run_dir / ENCODER_FILE)
    (run_dir / ENCODER_JSON).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def load_pretrained_encoder(run_dir: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The pretrained encoder of a ``seisforge pretrain`` run directory, in eval mode.

    Returns
    -------
    (encoder, info)
        ``info`` is ``encoder.json`` plus ``"run_dir"``, ``"card"`` (the
        :class:`~seisforge.models.card.ModelCard`, None when the run has none) and, for ``phasenet``,
        ``"seisbench_model"``: the SeisBench model whose encoder layers the returned encoder shares
        (decoder untrained).

    Raises
    ------
    DataError
        When a file is missing or the weights do not fit the described encoder (names both).
    """
    from safetensors.torch import load_file

    from seisforge.models.card import read_card

    run_dir = Path(run_dir)
    for name in (ENCODER_JSON, ENCODER_FILE):
        if not (run_dir / name).is_file():
            raise DataError(f"{run_dir} is not a pretrain run directory: {name} is missing")
    try:
        info = json.loads((run_dir / ENCODER_JSON).read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{run_dir / ENCODER_JSON}: not JSON ({err})") from None
    missing = [k for k in ("kind", "args", "in_channels", "component_order", "sampling_rate", "window_samples")
               if k not in info]
    if missing:
        raise DataError(f"{run_dir / ENCODER_JSON}: lacks {missing}")
    encoder, sb_model = build_encoder(info["kind"], info["args"], info.get("init_seed"))
    try:
        encoder.load_state_dict(load_file(str(run_dir / ENCODER_FILE)))
    except RuntimeError as err:
        raise DataError(f"{run_dir / ENCODER_FILE} does not fit the {info['kind']} encoder of "
                        f"{run_dir / ENCODER_JSON}: {err}") from None
    info["run_dir"] = str(run_dir)
    info["card"] = read_card(run_dir) if (run_dir / "model_card.json").is_file() else None
    if sb_model is not None:
        info["seisbench_model"] = sb_model.eval()
    return encoder.eval(), info
