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

    from seisforge.deploy.runtimes.export import export_graph

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {FORMATS}, got {fmt!r}")
    model = loaded.model
    if getattr(model, "output_type", None) != "array":
        raise ConfigError(f"{loaded.spec}: only SeisBench array pickers (PhaseNet-like) can be exported")
    card = card or model_card_of(loaded)
    graph = export_graph(model, len(model.component_order), int(model.in_samples), {}, part="net")[0]
    proto = onnx.load_from_string(graph)
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = CARD_KEY, card_json(card)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"--out {out}: cannot create the folder ({err.strerror})") from None
    write_card(card, out / "model_card.json")
    if fmt == "onnx":
        path = out / "model.onnx"
        path.write_bytes(proto.SerializeToString())
        return path
    return _write_openvino(proto, card, out)


def _write_openvino(proto: Any, card: ModelCard, out: Path) -> Path:
    """OpenVINO IR (``model.xml`` + ``model.bin``) converted from the ONNX graph, the card in ``rt_info``."""
    import openvino as ov

    model = ov.Core().read_model(proto.SerializeToString(), b"")  # ONNX bytes, weights inside
    model.set_rt_info(card_json(card), CARD_KEY)
    path = out / "model.xml"
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path
