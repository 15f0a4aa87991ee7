"""Standalone model artifacts: ``seisforge export SPEC --format onnx|openvino --out DIR``.

The artifact is the network alone (input ``x``: normalised windows, output ``y``: probabilities), with
the model card embedded as metadata (ONNX ``metadata_props``, OpenVINO ``rt_info``) and written beside it
as ``model_card.json``. ``onnx:DIR`` then loads it without the torch model class
(:mod:`seisforge.models.onnx_picker`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seisforge.errors import ConfigError, DataError
from seisforge.models.card import ModelCard, card_from_seisbench, read_card, write_card
from seisforge.models.loaded import LoadedModel
from seisforge.models.onnx_picker import CARD_KEY, card_json

FORMATS = ("onnx", "openvino")


def model_card_of(loaded: LoadedModel, card_path: Path | None = None) -> ModelCard:
    """The card of a loaded picker: its run's card when one exists, else read off the SeisBench model."""
    if card_path is not None and card_path.is_file():
        return read_card(card_path)
    existing = getattr(loaded.model, "card", None)
    if isinstance(existing, ModelCard):
        return existing
    return card_from_seisbench(loaded.model, training={"method": "export", "source": loaded.source})


def export_artifact(loaded: LoadedModel, fmt: str, out: str | Path, card: ModelCard | None = None) -> Path:
    """Write ``loaded``'s network as an ONNX or OpenVINO artifact with its card; returns the model file."""
    import onnx

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {FORMATS}, got {fmt!r}")
    model = loaded.model
    if getattr(model, "output_type", None) != "array":
        raise ConfigError(f"{loaded.spec}: only SeisBench array pickers (PhaseNet-like) can be exported")
    card = card or model_card_of(loaded)
    graph = network_graph(loaded)
    out = prepare_out(out)
    if fmt == "onnx":
        return save_onnx(onnx.load_from_string(graph), card, out)
    import openvino as ov

    return save_openvino(ov.Core().read_model(graph, b""), card, out)


def network_graph(loaded: LoadedModel) -> bytes:
    """The ONNX graph of a picker's network alone (input ``x`` normalised windows, output ``y``)."""
    from seisforge.deploy.runtimes.export import export_graph

    model = loaded.model
    try:
        return export_graph(model, len(model.component_order), int(model.in_samples), {}, part="net")[0]
    except ValueError as err:
        raise ConfigError(f"{loaded.spec}: {err}") from None


def prepare_out(out: str | Path) -> Path:
    """Create the artifact folder, or a clear error naming it."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"--out {out}: cannot create the folder ({err.strerror})") from None
    return out


def save_onnx(proto: Any, card: ModelCard, out: Path) -> Path:
    """``out/model.onnx`` with the card in ``metadata_props``, and ``out/model_card.json``."""
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = CARD_KEY, card_json(card)
    write_card(card, out / "model_card.json")
    path = out / "model.onnx"
    path.write_bytes(proto.SerializeToString())
    return path


def save_openvino(model: Any, card: ModelCard, out: Path, fp16: bool = False) -> Path:
    """``out/model.xml`` + ``model.bin`` (float16 weights when ``fp16``), the card in ``rt_info``."""
    import openvino as ov

    model.set_rt_info(card_json(card), CARD_KEY)
    write_card(card, out / "model_card.json")
    path = out / "model.xml"
    ov.save_model(model, str(path), compress_to_fp16=fp16)
    return path
