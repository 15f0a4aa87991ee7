"""Exported pickers without their torch class: the ``onnx:PATH`` model spec.

``seisforge export`` writes a picker's network as a standalone ONNX graph whose metadata holds the
model card (``metadata_props["seisforge.model_card"]``, the JSON of :mod:`seisforge.models.card`). The
graph is the network alone: input ``x`` (batch, channels, samples) of normalised windows, output ``y``
(batch, classes, samples) of probabilities. The normalisation stays outside the graph, stated in the
card, exactly as SeisBench applies ``annotate_batch_pre`` before the network; so one artifact serves
both the float32 and the bf16 paths of ``seisforge pick``, which compile the normalisation separately.

:class:`OnnxPicker` is a SeisBench ``WaveformModel`` built from such a file: the windowing, stacking,
blinding and triggers are SeisBench's (PhaseNet's array-picker methods), and its ``forward`` runs the
graph in ONNX Runtime. ``seisforge pick`` reuses the stored graph instead of exporting (see
:func:`seisforge.deploy.runtimes.export.export_graph`), so ``onnx:`` picks equal the torch model's picks
for float32 exports.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import numpy as np
import seisbench.models as sbm
import torch

from seisforge import seisbench_compat
from seisforge.errors import DataError
from seisforge.models.card import ModelCard, card_problems
from seisforge.models.loaded import LoadedModel

CARD_KEY = "seisforge.model_card"


class OnnxPicker(sbm.WaveformModel):
    """A SeisBench array picker whose network is an ONNX graph (see the module docstring).

    Parameters
    ----------
    graph
        The serialised ONNX graph (input ``x``, output ``y``).
    card
        Its model card: input geometry, component order, class order, normalisation, thresholds.
    source
        Where it came from (for provenance).
    """

    _annotate_args = seisbench_compat.annotate_args_copy(sbm.PhaseNet)
    annotate_batch_post = sbm.PhaseNet.annotate_batch_post
    classify_aggregate = sbm.PhaseNet.classify_aggregate

    def __init__(self, graph: bytes, card: ModelCard, source: str = "onnx") -> None:
        super().__init__(citation=f"seisforge export of {card.model_class} ({source})",
                         in_samples=card.window_samples, output_type="array",
                         pred_sample=(0, card.window_samples), labels=card.labels,
                         sampling_rate=card.sampling_rate, component_order=card.component_order)
        self.onnx_net_graph = graph
        self.card = card
        self.norm = card.normalisation.get("amp_norm", "std")
        self.norm_detrend = bool(card.normalisation.get("detrend", False))
        self.norm_amp_per_comp = bool(card.normalisation.get("per_component", False))
        self.default_args.update({f"{p}_threshold": float(t) for p, t in card.thresholds.items()})
        self._session: Any = None

    def annotate_batch_pre(self, batch: torch.Tensor, argdict: dict[str, Any]) -> torch.Tensor:
        """The card's normalisation, with SeisBench PhaseNet's arithmetic."""
        return sbm.PhaseNet.annotate_batch_pre(self, batch, argdict)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities from the graph (CPU, float32 in and out)."""
        return torch.from_numpy(np.asarray(self.run(x.detach().cpu().numpy().astype(np.float32, copy=False))))

    def run(self, x: np.ndarray) -> np.ndarray:
        """The graph on a float32 batch, in ONNX Runtime."""
        if self._session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.enable_profiling = False
            self._session = ort.InferenceSession(self.onnx_net_graph, opts, providers=["CPUExecutionProvider"])
        return self._session.run(["y"], {"x": x})[0]

    def get_model_args(self) -> dict[str, Any]:
        """Not saved through SeisBench: the artifact is the ONNX file."""
        raise NotImplementedError("an OnnxPicker is saved as its ONNX file (seisforge export)")


class OpenVinoPicker(OnnxPicker):
    """An exported or quantized OpenVINO IR picker (``openvino:PATH``), run by OpenVINO on the CPU.

    It has no ONNX graph to hand to ``seisforge pick``'s runtimes, so ``pick`` runs it through its
    own ``forward`` (``--backend torch``, chosen automatically); windowing, stacking and triggers stay
    SeisBench's.
    """

    traceable = False  # seisforge pick's runtimes cannot re-export it; they fall back to its forward

    def __init__(self, xml: Path, card: ModelCard, source: str = "openvino") -> None:
        super().__init__(b"", card, source)
        self.onnx_net_graph = None
        self.xml = Path(xml)

    def run(self, x: np.ndarray) -> np.ndarray:
        """The IR on a float32 batch (compiled once, float32 precision hint)."""
        if self._session is None:
            import openvino as ov

            self._session = ov.Core().compile_model(str(self.xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return self._session(x)[0]


def load_openvino(path: str | Path) -> LoadedModel:
    """Load an OpenVINO IR picker (``openvino:PATH``: ``model.xml`` or its folder, with its card)."""
    import openvino as ov

    xml = Path(path)
    if xml.is_dir():
        xml = xml / "model.xml"
    if not xml.is_file():
        raise DataError(f"openvino:{path}: no such file")
    try:
        ir = ov.Core().read_model(str(xml))
        value = ir.get_rt_info([CARD_KEY])  # str(OVAny) is not the string for every value: astype is
        card = ModelCard(**json.loads(value.astype(str) if hasattr(value, "astype") else str(value)))
    except Exception as err:  # openvino raises RuntimeError/OVAny errors for foreign or card-less files
        raise DataError(f"openvino:{path}: not a seisforge-exported IR with a model card ({err})") from None
    model = OpenVinoPicker(xml, card, source=f"openvino:{path}")
    return LoadedModel(model.eval(), source=f"openvino:{path}", spec=f"openvino:{path}")


def card_json(card: ModelCard) -> str:
    """The card as embedded in an artifact's metadata: minified JSON without the fields at their defaults.

    ``ModelCard(**json.loads(card_json(card)))`` is ``card`` again (tested): a left-out field is one whose
    value is the dataclass default. For a small INT8 picker the card is ~3 % of the file; the full card
    is also written beside the artifact (``model_card.json``).
    """
    blank = {f.name: f.default if f.default is not MISSING else f.default_factory()
             for f in fields(ModelCard) if f.default is not MISSING or f.default_factory is not MISSING}
    data = {k: v for k, v in card.to_dict().items() if k not in blank or v != blank[k] or k == "schema"}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=float)


def read_onnx_artifact(path: str | Path) -> tuple[bytes, ModelCard]:
    """The graph and embedded card of an exported picker; a clear error when it is not one."""
    import onnx

    path = Path(path)
    if path.is_dir():
        path = path / "model.onnx"
    try:
        graph = path.read_bytes()
        proto = onnx.load_from_string(graph)
    except FileNotFoundError:
        raise DataError(f"onnx:{path}: no such file") from None
    except Exception as err:  # onnx raises DecodeError and others for non-ONNX bytes
        raise DataError(f"onnx:{path}: not an ONNX model ({type(err).__name__}: {err})") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    if CARD_KEY not in meta:
        raise DataError(f"onnx:{path}: no seisforge model card in its metadata; export it with "
                        "`seisforge export`, which records sampling rate, components, normalisation and labels")
    card = ModelCard(**json.loads(meta[CARD_KEY]))
    _check_io(proto, card, path)
    return graph, card


def _check_io(proto: Any, card: ModelCard, path: Path) -> None:
    """The graph must take ``x`` (batch, channels, samples) and give ``y`` (batch, classes, samples)."""
    ins = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    outs = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in proto.graph.output}
    want_in = [0, len(card.component_order), card.window_samples]
    want_out = [0, len(card.labels), card.window_samples]
    if list(ins) != ["x"] or list(outs) != ["y"] or ins["x"][1:] != want_in[1:] or outs["y"][1:] != want_out[1:]:
        raise DataError(f"onnx:{path}: not a picker graph: inputs {ins}, outputs {outs}; expected x "
                        f"(batch, {want_in[1]}, {want_in[2]}) -> y (batch, {want_out[1]}, {want_out[2]})")
    problems = card_problems(card)
    if problems:
        raise DataError(f"onnx:{path}: " + "; ".join(problems))


def load_onnx(path: str | Path) -> LoadedModel:
    """Load an exported picker (``onnx:PATH``, a ``.onnx`` file or a folder holding ``model.onnx``)."""
    graph, card = read_onnx_artifact(path)
    model = OnnxPicker(graph, card, source=f"onnx:{path}")
    return LoadedModel(model.eval(), source=f"onnx:{path}", spec=f"onnx:{path}")
