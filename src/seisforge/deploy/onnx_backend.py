"""ONNX Runtime execution of a SeisBench model's forward pass (CPU speed path).

The model is exported in memory from the loaded PyTorch module (no files written, nothing
unpickled), with a dynamic batch axis; SeisBench's own ``annotate_batch_pre``/``post`` still run in
torch around it. The graph is rewritten for ONNX Runtime's faster kernels (:func:`conv1d_as_conv2d`,
:func:`softmax_explicit`) and run as single-threaded calls on micro-batches from a thread pool.
Outputs agree with torch to about 1e-6, far below what moves a pick.
"""

from __future__ import annotations

import io
import logging
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

def importable(*modules: str) -> bool:
    """True when all ``modules`` import."""
    import importlib

    try:
        for name in modules:
            importlib.import_module(name)
    except ImportError:
        return False
    return True


def available() -> bool:
    """True when onnxruntime and onnx are importable."""
    return importable("onnx", "onnxruntime")


def _consumers(graph: Any) -> dict[str, list[Any]]:
    """The nodes reading each tensor name."""
    out: dict[str, list[Any]] = {}
    for n in graph.node:
        for name in n.input:
            out.setdefault(name, []).append(n)
    return out

# ------------------------------------------------------------------ graph rewrites (exact up to rounding)
_AFTER_CONV = ("BatchNormalization", "Relu")  # per-channel/elementwise ops that work on 4-D tensors too


def conv1d_as_conv2d(model: Any) -> Any:
    """Rewrite 1-D ``Conv``/``ConvTranspose`` nodes as 2-D ones on ``(N, C, 1, L)`` tensors, in place.

    ONNX Runtime's blocked-layout (NCHWc) convolution kernels only handle 2-D convolutions; for PhaseNet
    they were about 25% faster than the 1-D path. Each convolution gets an ``Unsqueeze`` before it and a
    ``Squeeze`` after it and after the chain of single-consumer ``BatchNormalization``/``Relu`` nodes
    that follow it, so that ONNX Runtime can still fuse them. The arithmetic is the same.

    Parameters
    ----------
    model
        An ``onnx.ModelProto`` whose convolution weights are initializers.

    Returns
    -------
    onnx.ModelProto
        ``model``, rewritten.
    """
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consumers = _consumers(g)
    graph_outputs = {o.name for o in g.output}
    axes = "_sf_axis2"
    g.initializer.append(numpy_helper.from_array(np.array([2], dtype=np.int64), axes))
    absorbed: set[int] = set()
    nodes = []
    for n in g.node:
        if id(n) in absorbed:
            continue
        weight = inits.get(n.input[1]) if n.op_type in ("Conv", "ConvTranspose") else None
        if weight is None or len(weight.dims) != 3:
            nodes.append(n)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if "output_shape" in attrs:
            nodes.append(n)
            continue
        weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight)[:, :, None, :], weight.name))
        for key, pad in (("kernel_shape", 1), ("strides", 1), ("dilations", 1), ("output_padding", 0)):
            if key in attrs:
                attrs[key] = [pad, *attrs[key]]
        if "pads" in attrs:
            attrs["pads"] = [0, attrs["pads"][0], 0, attrs["pads"][1]]
        if isinstance(attrs.get("auto_pad"), bytes):
            attrs["auto_pad"] = attrs["auto_pad"].decode()
        chain, out = [], n.output[0]
        while True:  # elementwise followers with a single consumer move into the 4-D section
            nxt = consumers.get(out, [])
            if len(nxt) != 1 or out in graph_outputs or nxt[0].op_type not in _AFTER_CONV or nxt[0].input[0] != out:
                break
            chain.append(nxt[0])
            out = nxt[0].output[0]
        prev = f"{n.output[0]}_sf_in4d"
        nodes.append(helper.make_node("Unsqueeze", [n.input[0], axes], [prev]))
        for k, node in enumerate([n, *chain]):
            o = f"{node.output[0]}_sf_4d"
            if k == 0:
                new = helper.make_node(n.op_type, [prev, *n.input[1:]], [o], name=n.name, **attrs)
            else:
                new = helper.make_node(node.op_type, [prev, *node.input[1:]], [o], name=node.name)
                new.attribute.extend(node.attribute)
                absorbed.add(id(node))
            nodes.append(new)
            prev = o
        nodes.append(helper.make_node("Squeeze", [prev, axes], [out]))
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]
    return model


def fold_batchnorm(model: Any) -> Any:
    """Fold ``BatchNormalization`` nodes that follow a ``ConvTranspose`` into its weights, in place.

    The exporter folds batch norms into ordinary convolutions but not into transposed ones (PhaseNet's
    up-sampling layers). OpenVINO then fuses the per-channel scale as a computed weight input, for
    which its bf16 kernels were about 30 times slower than with constant weights. Folding is exact up
    to rounding: ``W'[:, c] = W[:, c] * s[c]`` and ``b' = (b - mean) * s + beta`` with
    ``s = gamma / sqrt(var + eps)``. Only groups of 1 and a ConvTranspose whose only consumer is the
    batch norm are folded.

    Parameters
    ----------
    model
        An ``onnx.ModelProto`` whose weights and batch-norm statistics are initializers.

    Returns
    -------
    onnx.ModelProto
        ``model``, rewritten.
    """
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    consumers = _consumers(g)
    graph_outputs = {o.name for o in g.output}
    drop = set()
    for n in g.node:
        if n.op_type != "BatchNormalization" or len(n.output) != 1:
            continue
        conv = producers.get(n.input[0])
        if (conv is None or conv.op_type != "ConvTranspose" or len(consumers.get(conv.output[0], [])) != 1
                or conv.output[0] in graph_outputs or any(a.name == "group" and a.i != 1 for a in conv.attribute)
                or not all(name in inits for name in [conv.input[1], *n.input[1:5], *conv.input[2:3]])):
            continue
        gamma, beta, mean, var = (numpy_helper.to_array(inits[name]).astype(np.float64) for name in n.input[1:5])
        eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
        scale = gamma / np.sqrt(var + eps)
        w = numpy_helper.to_array(inits[conv.input[1]])
        b = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64) if len(conv.input) > 2 else 0.0
        shape = (1, -1) + (1,) * (w.ndim - 2)
        w_name, b_name = f"{conv.name}_sf_folded_w", f"{conv.name}_sf_folded_b"
        g.initializer.append(numpy_helper.from_array((w * scale.reshape(shape)).astype(w.dtype), w_name))
        g.initializer.append(numpy_helper.from_array(((b - mean) * scale + beta).astype(w.dtype), b_name))
        new = helper.make_node("ConvTranspose", [conv.input[0], w_name, b_name], [n.output[0]], name=conv.name)
        new.attribute.extend(conv.attribute)
        conv.CopyFrom(new)
        drop.add(n.name or id(n))
    nodes = [n for n in g.node if (n.name or id(n)) not in drop]
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]
    _prune_initializers(g)
    return model


def _prune_initializers(graph: Any) -> None:
    """Drop initializers that no node reads any more."""
    used = {name for n in graph.node for name in n.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def _constant_values(graph: Any) -> dict[str, np.ndarray]:
    """Values of ``Constant`` nodes and initializers, by output name."""
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            values[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return values


def sink_transposed_conv_bias(model: Any) -> Any:
    """Move a ``ConvTranspose`` bias past a following ``Relu`` + ``Slice`` (crop), in place.

    ``Slice(Relu(ConvT(x) + b)) == Relu(Slice(ConvT(x)) + b)`` when the slice does not cut the channel
    axis, which is how U-Net decoders such as PhaseNet's crop their up-sampled features. OpenVINO fuses
    a bias or a per-channel add into a transposed convolution as a post-op, and its bf16 kernels with
    that post-op were about 4 times slower than without; after this rewrite the add and the ReLU run
    as a cheap element-wise step on the (smaller) cropped tensor. Exact: the same operations in
    another order.

    Parameters
    ----------
    model
        An ``onnx.ModelProto`` (run :func:`fold_batchnorm` first so the bias is an initializer).

    Returns
    -------
    onnx.ModelProto
        ``model``, rewritten.
    """
    from onnx import helper, numpy_helper

    g = model.graph
    values = _constant_values(g)
    inits = {i.name for i in g.initializer}
    consumers = _consumers(g)
    graph_outputs = {o.name for o in g.output}
    moved: dict[int, list[Any]] = {}  # id(slice node) -> nodes to insert after it
    skip: set[int] = set()
    for n in g.node:
        if n.op_type != "ConvTranspose" or len(n.input) < 3 or n.input[2] not in inits:
            continue
        relu = consumers.get(n.output[0], [])
        if len(relu) != 1 or relu[0].op_type != "Relu" or n.output[0] in graph_outputs:
            continue
        relu = relu[0]
        crop = consumers.get(relu.output[0], [])
        if len(crop) != 1 or crop[0].op_type != "Slice" or relu.output[0] in graph_outputs:
            continue
        crop = crop[0]
        bias = values[n.input[2]]
        ndim = len(values[n.input[1]].shape)
        axes = values.get(crop.input[3]) if len(crop.input) > 3 else None
        if axes is None or any(int(a) % ndim in (0, 1) for a in np.atleast_1d(axes)):
            continue
        b_name = f"{n.name}_sf_bias_bcast"
        g.initializer.append(numpy_helper.from_array(bias.reshape((1, -1) + (1,) * (ndim - 2)), b_name))
        del n.input[2]
        out = crop.output[0]
        crop.input[0] = n.output[0]
        crop.output[0] = f"{out}_sf_nobias"
        add = helper.make_node("Add", [crop.output[0], b_name], [f"{out}_sf_biased"], name=f"{n.name}_sf_bias")
        new_relu = helper.make_node("Relu", [add.output[0]], [out], name=relu.name)
        skip.add(id(relu))
        moved[id(crop)] = [add, new_relu]
    nodes = []
    for n in g.node:
        if id(n) in skip:
            continue
        nodes.append(n)
        nodes.extend(moved.get(id(n), []))
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]
    _prune_initializers(g)
    return model


def softmax_explicit(model: Any) -> Any:
    """Replace ``Softmax`` nodes by ``exp(x - max) / sum``, in place.

    ONNX Runtime transposes for a softmax over a non-last axis (PhaseNet's class axis); the explicit form
    was about twice as fast there and agrees to about 1e-7.

    Parameters
    ----------
    model
        An ``onnx.ModelProto`` (opset >= 13).

    Returns
    -------
    onnx.ModelProto
        ``model``, rewritten.
    """
    from onnx import helper, numpy_helper

    g = model.graph
    nodes = []
    for k, n in enumerate(g.node):
        if n.op_type != "Softmax":
            nodes.append(n)
            continue
        axis = next((a.i for a in n.attribute if a.name == "axis"), -1)
        p = f"_sf_softmax{k}"
        g.initializer.append(numpy_helper.from_array(np.array([axis], dtype=np.int64), p + "_axes"))
        nodes += [
            helper.make_node("ReduceMax", [n.input[0]], [p + "_max"], axes=[axis], keepdims=1),
            helper.make_node("Sub", [n.input[0], p + "_max"], [p + "_shift"]),
            helper.make_node("Exp", [p + "_shift"], [p + "_exp"]),
            helper.make_node("ReduceSum", [p + "_exp", p + "_axes"], [p + "_sum"], keepdims=1),
            helper.make_node("Div", [p + "_exp", p + "_sum"], [n.output[0]]),
        ]
    del g.node[:]
    g.node.extend(nodes)
    return model


def _session(graph: bytes, threads: int = 1) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # no busy-waiting between ops: much faster on small, shared machines; ~no cost on idle ones
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])


def optimized_session(graph: bytes, example: np.ndarray) -> tuple[Any, bool]:
    """Session of ``graph`` after :func:`conv1d_as_conv2d` and :func:`softmax_explicit`.

    The rewritten graph is checked against the original on ``example``; when the rewrite fails or
    the outputs differ by more than 1e-5, the original graph is used.

    Returns
    -------
    tuple
        The ONNX Runtime session and whether the rewritten graph is used.
    """
    import onnx

    plain = _session(graph)
    try:
        model = softmax_explicit(conv1d_as_conv2d(onnx.load_from_string(graph)))
        onnx.checker.check_model(model)
        fast = _session(model.SerializeToString())
        want, got = plain.run(None, {"x": example})[0], fast.run(None, {"x": example})[0]
        if want.shape == got.shape and np.allclose(want, got, rtol=0, atol=1e-5):
            return fast, True
        log.warning("ONNX graph rewrite changed the outputs (max %.2g); using the plain graph",
                    float(np.abs(want - got).max()) if want.shape == got.shape else float("inf"))
    except Exception as err:  # noqa: BLE001 - any failure keeps the plain (correct) graph
        log.warning("ONNX graph rewrite failed (%s); using the plain graph", err)
    return plain, False


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
    with torch.inference_mode():
        plain_pre = isinstance(model.annotate_batch_pre(example, argdict=argdict), torch.Tensor)
    if part == "pre" and not plain_pre:
        raise ValueError(f"{type(model).__name__}.annotate_batch_pre returns more than a tensor")
    includes_pre = part == "pre" or (part == "auto" and plain_pre)
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
    return buf.getvalue(), includes_pre, example.numpy()


class OnnxForward:
    """Callable ``raw windows (N, C, L) float32 -> model output`` through ONNX Runtime.

    The model's ``annotate_batch_pre`` is part of the exported graph when it returns a plain tensor
    (no piggyback), so the normalisation runs fused in ONNX Runtime; ``includes_pre`` says which.

    Parameters
    ----------
    model
        The torch model (in eval mode); exported once at construction.
    in_channels, in_samples
        Shape of one window, for the export example.
    argdict
        Annotate arguments passed to ``annotate_batch_pre``.
    threads
        Windows are run on this many threads at once (default: torch's thread count), each running
        single-threaded ONNX Runtime on ``micro_batch`` windows. On 2 CPU cores this data parallelism
        was about 2x faster than ONNX Runtime's own intra-op threading for PhaseNet (whose 1-D
        convolutions parallelise poorly inside one call), and small batches stay in cache.
    micro_batch
        Windows per ONNX Runtime call.
    """

    def __init__(self, model: Any, in_channels: int, in_samples: int, argdict: dict[str, Any],
                 threads: int | None = None, micro_batch: int = 16) -> None:
        graph, self.includes_pre, example = export_graph(model, in_channels, in_samples, argdict)
        self.threads = max(1, int(threads or torch.get_num_threads()))
        self.micro_batch = max(1, int(micro_batch))
        # single-threaded sessions; parallelism across calls instead, see ``threads``
        self.session, self.rewritten = optimized_session(graph, example)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="seisforge-ort") if self.threads > 1 else None

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"x": x})[0]

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(batch.detach().cpu().numpy(), dtype=np.float32)
        chunks = [x[i : i + self.micro_batch] for i in range(0, len(x), self.micro_batch)]
        if self._pool is None or len(chunks) == 1:
            outs = [self._run(c) for c in chunks]
        else:  # session.run is thread-safe and releases the GIL
            outs = list(self._pool.map(self._run, chunks))
        return torch.from_numpy(outs[0] if len(outs) == 1 else np.concatenate(outs))
