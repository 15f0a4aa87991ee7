"""In-memory ONNX export of a SeisBench model's ``annotate_batch_pre`` and forward pass.

Nothing is unpickled: the graph is traced from the loaded PyTorch module, and kept in the on-disk cache
(:mod:`~seisforge.deploy.runtimes.cache`, keyed by the weights) so that the next process skips the export. Both runtimes (:mod:`~seisforge.deploy.runtimes.onnx`, :mod:`~seisforge.deploy.runtimes.openvino`)
compile this graph.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import torch

from seisforge.deploy.runtimes import cache


class _PreAndForward(torch.nn.Module):
    """``annotate_batch_pre`` (per-window normalisation) and/or the forward pass as one graph."""

    def __init__(self, model: Any, argdict: dict[str, Any], net: bool = True) -> None:
        super().__init__()
        self.model = model
        self.argdict = argdict
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.model.annotate_batch_pre(x, argdict=self.argdict)
        return self.model(x) if self.net else x


def export_graph(model: Any, in_channels: int, in_samples: int, argdict: dict[str, Any],
                 part: str = "auto") -> tuple[bytes, bool, np.ndarray]:
    """Export ``annotate_batch_pre`` and/or the forward pass to an in-memory ONNX graph.

    Parameters
    ----------
    model
        The torch model; it is exported in eval mode and its training flag is restored afterwards.
    in_channels, in_samples
        Shape of one window.
    argdict
        Annotate arguments passed to ``annotate_batch_pre``.
    part
        ``auto``: the normalisation and the network when ``annotate_batch_pre`` returns a plain tensor
        (no piggyback), so it runs fused, else the network alone; ``net``: the network alone;
        ``pre``: the normalisation alone (``ValueError`` when it returns more than a tensor).

    Returns
    -------
    tuple
        The serialised graph (input ``x``, output ``y``, dynamic batch axis), whether it includes
        ``annotate_batch_pre``, and the example input used for the export (4 random windows).
    """
    if part not in ("auto", "net", "pre"):
        raise ValueError(f"part must be auto, net or pre, got {part!r}")
    example = torch.randn(4, in_channels, in_samples, generator=torch.Generator().manual_seed(0))
    if not getattr(model, "traceable", True):  # its forward leaves torch: tracing would freeze constants
        raise ValueError(f"{type(model).__name__} has no graph to export; run it with --backend torch")
    stored = getattr(model, "onnx_net_graph", None)  # an exported picker (onnx:PATH) is not re-exported
    if stored is not None and part != "pre":
        if part == "net":
            return stored, False, example.numpy()
        pre = export_graph(model, in_channels, in_samples, argdict, part="pre")[0]
        return fuse_graphs(pre, stored), True, example.numpy()
    with torch.inference_mode():
        plain_pre = isinstance(model.annotate_batch_pre(example, argdict=argdict), torch.Tensor)
    if part == "pre" and not plain_pre:
        raise ValueError(f"{type(model).__name__}.annotate_batch_pre returns more than a tensor")
    includes_pre = part == "pre" or (part == "auto" and plain_pre)
    key = cache.key_of("graph", weights=cache.weights_hash(model), shape=[in_channels, in_samples],
                       part=part, includes_pre=includes_pre, argdict=sorted(map(repr, argdict.items())))
    graph = cache.cached_bytes(key, lambda: _trace(model, argdict, part, includes_pre, example))
    return graph, includes_pre, example.numpy()


def _trace(model: Any, argdict: dict[str, Any], part: str, includes_pre: bool, example: torch.Tensor) -> bytes:
    """``torch.onnx.export`` of the network or of normalisation + network (see :func:`export_graph`)."""
    was_training = model.training
    # the wrapper must be in eval mode: export restores the wrapper's mode on all submodules afterwards
    module = (_PreAndForward(model, argdict, net=part != "pre") if includes_pre else model).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), buf, input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17, dynamo=False,
        )
    model.train(was_training)
    return buf.getvalue()


def fuse_graphs(pre: bytes, net: bytes) -> bytes:
    """One graph ``x -> pre -> net -> y`` from a normalisation graph and a network graph (both ``x -> y``)."""
    import onnx
    from onnx import compose

    # both graphs prefixed: the normalisation's own output ``y`` would otherwise clash with the final ``y``
    first = compose.add_prefix(onnx.load_from_string(pre), prefix="pre_")
    second = compose.add_prefix(onnx.load_from_string(net), prefix="net_")
    fused = compose.merge_models(first, second, io_map=[("pre_y", "net_x")])
    rename = {"pre_x": "x", "net_y": "y"}  # the fused graph keeps the plain names x -> y
    for node in fused.graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        node.output[:] = [rename.get(o, o) for o in node.output]
    fused.graph.input[0].name, fused.graph.output[0].name = "x", "y"
    return fused.SerializeToString()
