"""ONNX graph rewrites for faster CPU kernels; each is exact up to float rounding.

:data:`ONNXRUNTIME_REWRITES` (:func:`conv1d_as_conv2d`, :func:`softmax_explicit`) are applied for
:mod:`seisforge.deploy.runtimes.onnx` and :data:`OPENVINO_REWRITES` (:func:`fold_batchnorm`,
:func:`sink_transposed_conv_bias`, :func:`split_concat_conv`) for
:mod:`seisforge.deploy.runtimes.openvino`. Callers check the rewritten graph against the plain one before
using it (:func:`seisforge.deploy.runtimes.onnx.checked_rewrite`). The speed-ups each rewrite was kept
for are in ``docs/deploy.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class _Lookups:
    """Look-ups over an ONNX graph, taken before a rewrite changes it."""

    consumers: dict[str, list[Any]]  # the nodes reading each tensor name
    producers: dict[str, Any]  # the node writing each tensor name
    outputs: set[str]  # names of the graph's outputs
    inits: dict[str, Any]  # initializers by name


def _lookups(model: Any) -> _Lookups:
    """The :class:`_Lookups` of ``model.graph``."""
    g = model.graph
    consumers: dict[str, list[Any]] = {}
    for n in g.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    return _Lookups(consumers=consumers, producers={o: n for n in g.node for o in n.output},
                    outputs={o.name for o in g.output}, inits={i.name: i for i in g.initializer})


def _set_nodes(graph: Any, nodes: list[Any], prune: bool = True, keep_value_info: bool = False) -> None:
    """Replace the nodes of ``graph``; drop its (now stale) shape annotations and unread initializers."""
    del graph.node[:]
    graph.node.extend(nodes)
    if not keep_value_info:
        del graph.value_info[:]
    if prune:
        _prune_initializers(graph)


def _attrs(node: Any) -> dict[str, Any]:
    """A node's attributes by name."""
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def chain(rewrites: Sequence[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """One rewrite that applies ``rewrites`` in order."""

    def apply(model: Any) -> Any:
        for rewrite in rewrites:
            model = rewrite(model)
        return model

    return apply


# ------------------------------------------------------------------ graph rewrites (exact up to rounding)
_AFTER_CONV = ("BatchNormalization", "Relu")  # per-channel/elementwise ops that work on 4-D tensors too


def conv1d_as_conv2d(model: Any) -> Any:
    """Rewrite 1-D ``Conv``/``ConvTranspose`` nodes as 2-D ones on ``(N, C, 1, L)`` tensors, in place.

    ONNX Runtime's blocked-layout (NCHWc) convolution kernels only handle 2-D convolutions, and for PhaseNet
    they were faster than the 1-D path. Each convolution gets an ``Unsqueeze`` before it and a
    ``Squeeze`` after it and after the chain of single-consumer ``BatchNormalization``/``Relu`` nodes
    that follow it, so that ONNX Runtime can still fuse them. The arithmetic is the same.

    Parameters
    ----------
    model
        An ``onnx.ModelProto`` whose convolution weights are initializers.

    Returns
    -------
    onnx.ModelProto
        ``model``, its 1-D convolutions run as 2-D ones.
    """
    from onnx import helper, numpy_helper

    g = model.graph
    look = _lookups(model)
    axes = "_sf_axis2"
    g.initializer.append(numpy_helper.from_array(np.array([2], dtype=np.int64), axes))
    absorbed: set[int] = set()
    nodes = []
    for n in g.node:
        if id(n) in absorbed:
            continue
        weight = look.inits.get(n.input[1]) if n.op_type in ("Conv", "ConvTranspose") else None
        if weight is None or len(weight.dims) != 3:
            nodes.append(n)
            continue
        attrs = _attrs(n)
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
            nxt = look.consumers.get(out, [])
            if len(nxt) != 1 or out in look.outputs or nxt[0].op_type not in _AFTER_CONV or nxt[0].input[0] != out:
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
    if not any(axes in node.input for node in nodes):  # nothing rewritten: no unused initializer (ORT warns)
        g.initializer.pop()
    _set_nodes(g, nodes, prune=False)
    return model


def fold_batchnorm(model: Any) -> Any:
    """Fold ``BatchNormalization`` nodes that follow a ``ConvTranspose`` into its weights, in place.

    The exporter folds batch norms into ordinary convolutions but not into transposed ones (PhaseNet's
    up-sampling layers). OpenVINO then fuses the per-channel scale as a computed weight input, for
    which its bf16 kernels were many times slower than with constant weights. Folding is exact up
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
        ``model``, the batch norms after transposed convolutions folded into their weights.
    """
    from onnx import helper, numpy_helper

    g = model.graph
    look = _lookups(model)
    drop = set()
    for n in g.node:
        if n.op_type != "BatchNormalization" or len(n.output) != 1:
            continue
        conv = look.producers.get(n.input[0])
        if (conv is None or conv.op_type != "ConvTranspose" or len(look.consumers.get(conv.output[0], [])) != 1
                or conv.output[0] in look.outputs or any(a.name == "group" and a.i != 1 for a in conv.attribute)
                or not all(name in look.inits for name in [conv.input[1], *n.input[1:5], *conv.input[2:3]])):
            continue
        gamma, beta, mean, var = (numpy_helper.to_array(look.inits[name]).astype(np.float64) for name in n.input[1:5])
        eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
        scale = gamma / np.sqrt(var + eps)
        w = numpy_helper.to_array(look.inits[conv.input[1]])
        b = numpy_helper.to_array(look.inits[conv.input[2]]).astype(np.float64) if len(conv.input) > 2 else 0.0
        shape = (1, -1) + (1,) * (w.ndim - 2)
        w_name, b_name = f"{conv.name}_sf_folded_w", f"{conv.name}_sf_folded_b"
        g.initializer.append(numpy_helper.from_array((w * scale.reshape(shape)).astype(w.dtype), w_name))
        g.initializer.append(numpy_helper.from_array(((b - mean) * scale + beta).astype(w.dtype), b_name))
        new = helper.make_node("ConvTranspose", [conv.input[0], w_name, b_name], [n.output[0]], name=conv.name)
        new.attribute.extend(conv.attribute)
        conv.CopyFrom(new)
        drop.add(n.name or id(n))
    _set_nodes(g, [n for n in g.node if (n.name or id(n)) not in drop])
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
    that post-op were several times slower than without; after this rewrite the add and the ReLU run
    as a cheap element-wise step on the (smaller) cropped tensor. Exact: the same operations in
    another order.

    Parameters
    ----------
    model
        An ``onnx.ModelProto`` (run :func:`fold_batchnorm` first so the bias is an initializer).

    Returns
    -------
    onnx.ModelProto
        ``model``, the transposed-convolution biases added after the crops.
    """
    from onnx import helper, numpy_helper

    g = model.graph
    look = _lookups(model)
    values = _constant_values(g)
    moved: dict[int, list[Any]] = {}  # id(slice node) -> nodes to insert after it
    skip: set[int] = set()
    for n in g.node:
        if n.op_type != "ConvTranspose" or len(n.input) < 3 or n.input[2] not in look.inits:
            continue
        relu = look.consumers.get(n.output[0], [])
        if len(relu) != 1 or relu[0].op_type != "Relu" or n.output[0] in look.outputs:
            continue
        relu = relu[0]
        crop = look.consumers.get(relu.output[0], [])
        if len(crop) != 1 or crop[0].op_type != "Slice" or relu.output[0] in look.outputs:
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
    _set_nodes(g, nodes)
    return model


def softmax_explicit(model: Any) -> Any:
    """Replace ``Softmax`` nodes by ``exp(x - max) / sum``, in place.

    ONNX Runtime transposes for a softmax over a non-last axis (PhaseNet's class axis); the explicit form
    avoids the transposes and agrees to float rounding.

    Parameters
    ----------
    model
        An ``onnx.ModelProto`` (opset >= 13).

    Returns
    -------
    onnx.ModelProto
        ``model``, without ``Softmax`` nodes.
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
    _set_nodes(g, nodes, prune=False, keep_value_info=True)
    return model


def split_concat_conv(model: Any) -> Any:
    """Rewrite ``Conv(Concat(a, b))`` over channels as ``Conv(a) + Conv(b)``, in place.

    U-Net decoders (PhaseNet's) concatenate the skip connection with the up-sampled features and
    convolve the result. Splitting the weights along the input channels avoids the concatenated copy
    (OpenVINO's bf16 concat was a reference implementation) and OpenVINO fuses the ``Add`` into the
    second convolution, which made PhaseNet faster in bf16 and float32. Exact up to the order of summation.
    Needs the channel counts of the concatenated inputs (from ONNX shape inference); concats with a
    single consumer, ``group == 1`` convolutions and constant weights only.

    Parameters
    ----------
    model
        An ``onnx.ModelProto``.

    Returns
    -------
    onnx.ModelProto
        ``model``, rewritten (or ``model`` itself when shape inference fails).
    """
    import onnx
    from onnx import helper, numpy_helper

    inferred = onnx.shape_inference.infer_shapes(model)
    channels = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.input]:
        dims = vi.type.tensor_type.shape.dim
        if len(dims) >= 2 and dims[1].HasField("dim_value"):
            channels[vi.name] = dims[1].dim_value
    g = model.graph
    look = _lookups(model)
    values = _constant_values(g)
    replace: dict[int, list[Any]] = {}
    drop: set[int] = set()
    for n in g.node:
        if n.op_type != "Conv" or n.input[0] not in look.producers:
            continue
        cat = look.producers[n.input[0]]
        w = values.get(n.input[1])
        attrs = _attrs(n)
        if (cat.op_type != "Concat" or _attrs(cat).get("axis") != 1 or len(cat.input) != 2 or w is None
                or attrs.get("group", 1) != 1 or len(look.consumers.get(cat.output[0], [])) != 1
                or cat.output[0] in look.outputs or (cat.input[0] not in channels and cat.input[1] not in channels)
                or (len(n.input) > 2 and n.input[2] and n.input[2] not in values)):
            continue
        # one known channel count gives the other (a dynamic Slice hides it from shape inference)
        ca = channels.get(cat.input[0], w.shape[1] - channels.get(cat.input[1], 0))
        if not 0 < ca < w.shape[1] or channels.get(cat.input[1], w.shape[1] - ca) != w.shape[1] - ca:
            continue
        p = f"{n.name or n.output[0]}_sf_split"
        g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w[:, :ca]), p + "_wa"))
        g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w[:, ca:]), p + "_wb"))
        b_inputs = [cat.input[1], p + "_wb", *n.input[2:3]]
        conv_a = helper.make_node("Conv", [cat.input[0], p + "_wa"], [p + "_a"], name=p + "_a")
        conv_b = helper.make_node("Conv", b_inputs, [p + "_b"], name=p + "_b")
        for c in (conv_a, conv_b):
            c.attribute.extend(n.attribute)
        replace[id(n)] = [conv_a, conv_b, helper.make_node("Add", [p + "_a", p + "_b"], [n.output[0]], name=p)]
        drop.add(id(cat))
    nodes = []
    for n in g.node:
        if id(n) in drop:
            continue
        nodes.extend(replace.get(id(n), [n]))
    _set_nodes(g, nodes)
    return model


def polyphase_transposed_conv(model: Any) -> Any:
    """Rewrite each 1-D ``ConvTranspose`` as one ``Conv`` over its ``stride`` phases, in place.

    Output sample ``q * s + r`` of a transposed convolution with stride ``s`` and kernel ``k`` only
    sees the taps ``r, r + s, r + 2s, ...``: it is an ordinary stride-1 convolution of the input with
    those taps (reversed), one per phase ``r``. All phases run as one ``Conv`` with ``s * C_out``
    output channels and ``ceil(k / s)`` taps (zero where a phase has fewer), and a reshape between two
    transposes interleaves the phases into time. OpenVINO runs transposed convolutions on a generic
    GEMM kernel and ordinary ones on its fastest convolution kernels; PhaseNet's four up-sampling
    layers took a third of its float32 time with AVX2 kernels, but the rewrite is slower with AVX-512
    kernels (PhaseNetLight's is faster with both), so OpenVINO's builder times both graphs (figures in
    ``docs/deploy.md``). Exact up to the order of summation. Pads and output padding become a crop of the
    phases (which :func:`merge_slice_chains` can join with the crops after it). Only ``group == 1``,
    dilation 1, no explicit output shape and constant weights are rewritten. With stride 1
    (PhaseNetLight's output layer) the rewrite is one ``Conv`` with the flipped kernel, the pads making
    the crop.

    Parameters
    ----------
    model
        An ``onnx.ModelProto``.

    Returns
    -------
    onnx.ModelProto
        ``model``, its 1-D transposed convolutions rewritten.
    """
    g = model.graph
    values = _constant_values(g)
    nodes = []
    for n in g.node:
        nodes += _polyphase(n, values, g) or [n]
    _set_nodes(g, nodes)
    return model


def _polyphase(n: Any, values: dict[str, np.ndarray], g: Any) -> list[Any] | None:
    """The nodes that replace the transposed convolution ``n`` (their weights added to ``g``), or None."""
    from onnx import helper, numpy_helper

    a = _attrs(n)
    w = values.get(n.input[1]) if n.op_type == "ConvTranspose" and len(n.input) > 1 else None
    s, pads, extra_out = (a.get("strides") or [1])[0], a.get("pads", [0, 0]), (a.get("output_padding") or [0])[0]
    if (w is None or w.ndim != 3 or a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1]))
            or a.get("output_shape") or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
            or (len(n.input) > 2 and n.input[2] and n.input[2] not in values)):
        return None
    c_in, c_out, k = w.shape
    taps = -(-k // s)
    # the phases cover (input length + taps - 1) * s samples; the transposed convolution's output
    # starts pads[0] into them and ends `extra` samples before their end (output padding: samples
    # no tap reaches, the bias alone, which the zero taps give too)
    extra = taps * s - k - extra_out + pads[1]
    if extra < 0 or max(pads) > taps * s - 1:
        return None
    kernel = np.zeros((s, c_out, c_in, taps), dtype=w.dtype)  # phase, out, in, tap
    for r in range(s):
        for m in range(taps):
            if r + m * s < k:
                kernel[r, :, :, taps - 1 - m] = w[:, :, r + m * s].T
    p = f"{n.name or n.output[0]}_sf_poly"
    g.initializer.append(numpy_helper.from_array(kernel.reshape(s * c_out, c_in, taps), p + "_w"))
    conv_in = [n.input[0], p + "_w"]
    if len(n.input) > 2 and n.input[2]:
        g.initializer.append(numpy_helper.from_array(np.tile(values[n.input[2]], s).astype(w.dtype), p + "_b"))
        conv_in.append(p + "_b")
    if s == 1:  # one phase, nothing to interleave: an ordinary convolution whose pads make the crop
        return [helper.make_node("Conv", conv_in, [n.output[0]], name=p, pads=[k - 1 - pads[0], k - 1 - pads[1]])]
    # channels last, (time, phase * C_out) is (time * stride + phase, C_out): the interleave is a
    # reshape between two transposes, which OpenVINO maps onto its channels-last layouts
    g.initializer.append(numpy_helper.from_array(np.array([0, -1, c_out], dtype=np.int64), p + "_shape"))
    merged = p + "_merged" if extra or pads[0] else n.output[0]
    nodes = [helper.make_node("Conv", conv_in, [p + "_phases"], name=p, pads=[taps - 1, taps - 1]),
             helper.make_node("Transpose", [p + "_phases"], [p + "_last"], name=p + "_last", perm=[0, 2, 1]),
             helper.make_node("Reshape", [p + "_last", p + "_shape"], [p + "_time"], name=p + "_time"),
             helper.make_node("Transpose", [p + "_time"], [merged], name=p + "_first", perm=[0, 2, 1])]
    if extra or pads[0]:
        for name, value in (("_start", pads[0]), ("_end", -extra if extra else np.iinfo(np.int64).max), ("_axis", 2)):
            g.initializer.append(numpy_helper.from_array(np.array([value], dtype=np.int64), p + name))
        nodes.append(helper.make_node("Slice", [merged, p + "_start", p + "_end", p + "_axis"], [n.output[0]],
                                      name=p + "_trim"))
    return nodes


#: element-wise ops that commute with a crop along time when their other inputs do not vary along it
_TIME_POINTWISE = ("Relu", "Add", "Sub", "Mul", "Div")


@dataclass
class _Cut:
    """A ``Slice`` along a tensor's last axis, resolved for the graph's window length."""

    axis: int  # the last axis (non-negative)
    start: int  # first sample kept, in the input
    length: int  # samples kept


def merge_slice_chains(model: Any) -> Any:
    """Compose crops along time that only element-wise ops separate into one ``Slice``, in place.

    U-Net decoders crop their up-sampled features more than once: PhaseNet cuts each transposed
    convolution's output by ``[1:-2]``, adds its bias, rectifies, then centres it on the skip connection
    by a crop whose offset the export computes from tensor shapes (and the polyphase rewrite adds a
    trim of its own). OpenVINO runs each ``Slice`` as a copy on a reference kernel; one ``Slice`` at the
    head of such a chain, with the offsets added up, gives the same values in one copy of fewer samples
    (figures in ``docs/deploy.md``). Exact: the same values, nothing recomputed.

    The bounds are resolved for the graph's input shape (which must be fixed apart from the batch axis)
    by running the graph in ONNX Runtime at two batch sizes, which must agree. A chain is merged only
    when no other live node reads a tensor whose length it changes (the shape arithmetic that computed
    a removed crop's offset is dropped with it), every slice cuts the last axis with step 1 and the ops
    between them (:data:`_TIME_POINTWISE`) take nothing else that varies along time.

    Parameters
    ----------
    model
        An ``onnx.ModelProto`` with one input.

    Returns
    -------
    onnx.ModelProto
        ``model``, each chain of crops one ``Slice``; unchanged when nothing qualifies.
    """
    from onnx import helper, numpy_helper

    g = model.graph
    values = _constant_values(g)
    cuts = _resolve_cuts(model, values)
    refused: set[str] = set()
    while True:
        look = _lookups(model)
        found = next((c for c in (_crop_chain(n, look, cuts, values) for n in g.node
                                  if n.op_type == "Slice" and n.output[0] in cuts and n.output[0] not in refused)
                      if c is not None), None)
        if found is None:
            return model
        head, between, tail = found
        last = between[-1] if between else head  # will write the tail's output itself
        nodes = [n for n in g.node if n is not tail]
        live = _live_nodes(nodes, look.outputs, {id(last): tail.output[0]})
        changed = {head.output[0]} | {n.output[0] for n in between}  # tensors that get shorter
        if any(i in changed for n in live if n is not head and n not in between for i in n.input):
            refused.add(tail.output[0])  # read elsewhere at its old length
            continue
        a, b = cuts[head.output[0]], cuts[tail.output[0]]
        p = f"{head.name or head.output[0]}_sf_merged"
        for name, value in (("_start", a.start + b.start), ("_end", a.start + b.start + b.length), ("_axis", a.axis)):
            g.initializer.append(numpy_helper.from_array(np.array([value], dtype=np.int64), p + name))
        new_head = helper.make_node("Slice", [head.input[0], p + "_start", p + "_end", p + "_axis"], [head.output[0]],
                                    name=p)
        last = new_head if last is head else last
        last.output[0] = tail.output[0]
        cuts[new_head.output[0]] = _Cut(a.axis, a.start + b.start, b.length)
        _set_nodes(g, [new_head if n is head else n for n in live])


def _crop_chain(tail: Any, look: _Lookups, cuts: dict[str, _Cut], values: dict[str, np.ndarray]
                ) -> tuple[Any, list[Any], Any] | None:
    """The ``(head slice, element-wise ops, tail)`` ending at the slice ``tail``, or None."""
    between: list[Any] = []
    name = tail.input[0]
    while name not in look.outputs and name in look.producers:
        node = look.producers[name]
        if node.op_type == "Slice" and name in cuts and cuts[name].axis == cuts[tail.output[0]].axis:
            return node, between[::-1], tail
        varying = [i for i in node.input if i not in values]
        if (node.op_type not in _TIME_POINTWISE or len(node.output) != 1 or len(varying) != 1
                or any(values[i].ndim and values[i].shape[-1] != 1 for i in node.input if i in values)):
            return None
        between.append(node)
        name = varying[0]
    return None


def _live_nodes(nodes: list[Any], outputs: set[str], renamed: dict[int, str]) -> list[Any]:
    """``nodes`` that contribute to ``outputs``, in order; ``renamed[id(node)]`` replaces a node's first output."""
    needed, live = set(outputs), []
    for n in reversed(nodes):
        if any(o in needed for o in [renamed.get(id(n), n.output[0]), *n.output[1:]]):
            live.append(n)
            needed.update(n.input)
    return live[::-1]


def _resolve_cuts(model: Any, values: dict[str, np.ndarray]) -> dict[str, _Cut]:
    """Each last-axis, step-1 ``Slice`` of ``model`` resolved for its input shape, by output name
    (``values``: the graph's constants, :func:`_constant_values`).

    Empty when the input shape is not fixed apart from the batch axis or the bounds depend on the batch.
    """
    import onnxruntime as ort
    from onnx import helper

    g = model.graph
    dims = [d.dim_value for d in g.input[0].type.tensor_type.shape.dim] if len(g.input) == 1 else []
    slices = [n for n in g.node if n.op_type == "Slice" and len(n.input) >= 4 and n.input[3] in values
              and np.atleast_1d(values[n.input[3]]).size == 1
              and (len(n.input) < 5 or not n.input[4] or (n.input[4] in values and np.all(values[n.input[4]] == 1)))]
    if len(dims) < 2 or any(d <= 0 for d in dims[1:]) or not slices:
        return {}
    outputs = {o.name for o in g.output}
    wanted = sorted({t for n in slices for t in (n.input[0], n.input[1], n.output[0])
                     if t not in values and t != g.input[0].name})
    probe = type(model)()
    probe.CopyFrom(model)
    del probe.graph.value_info[:]
    probe.graph.output.extend(helper.make_empty_tensor_value_info(t) for t in wanted if t not in outputs)
    options = ort.SessionOptions()  # not runtimes.onnx.cpu_session: that module imports this one
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    runs = []
    try:
        session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
        for batch in (1, 2):
            x = np.zeros((batch, *dims[1:]), dtype=np.float32)
            got = dict(zip(wanted, session.run(wanted, {g.input[0].name: x})))
            runs.append({**values, **got, g.input[0].name: x})
    except Exception:  # noqa: BLE001 - a graph ONNX Runtime cannot run this way keeps its crops
        return {}
    cuts = {}
    for n in slices:
        rank = runs[0][n.input[0]].ndim
        axis = int(np.atleast_1d(values[n.input[3]])[0]) % rank
        starts = [int(np.atleast_1d(r[n.input[1]])[0]) for r in runs]
        if axis != rank - 1 or starts[0] != starts[1]:
            continue
        size = runs[0][n.input[0]].shape[axis]
        start = min(max(starts[0] + size if starts[0] < 0 else starts[0], 0), size)
        cuts[n.output[0]] = _Cut(axis, start, runs[0][n.output[0]].shape[axis])
    return cuts


#: rewrites for ONNX Runtime's blocked-layout convolutions and explicit softmax, in order
ONNXRUNTIME_REWRITES = (conv1d_as_conv2d, softmax_explicit)
#: rewrites for OpenVINO's fast bf16 kernels (constant transposed-convolution weights, no concat, one crop), in order
OPENVINO_REWRITES = (fold_batchnorm, sink_transposed_conv_bias, split_concat_conv, merge_slice_chains)
