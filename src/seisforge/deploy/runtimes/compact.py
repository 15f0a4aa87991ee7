"""Lossless compaction of an ONNX graph: the same computation, bit for bit, in fewer bytes.

What a small quantized picker's file is mostly made of besides its int8 weights is container: the
quantizers name every tensor and node after its origin (``/down_1/Conv_output_0_QuantizeLinear``),
record shapes (``value_info``), spell out attributes at their default values (``dilations=[1]``,
``group=1``, ``kernel_shape`` equal to the weights' shape) and store the zero points of symmetric int8
weights, all zero. For PhaseNetLight (23 k parameters) these are about as large as the int8 weights
(docs/compression.md, "INT8 file size"). :func:`compact_graph` keeps the computation and changes only
that container:

- tensors get short names (``[0-9a-zA-Z]``, one character for the 62 most used ones); the graph's
  input ``x`` and output ``y`` keep theirs; nodes lose their names, the graph its doc strings and
  ``value_info``;
- equal constants are stored once (a scale shared by a ``QuantizeLinear`` and its ``DequantizeLinear``);
- all-zero zero points of ``DequantizeLinear`` nodes of constants (symmetric int8 weights, int32
  biases) are left out: the standard defines a missing zero point as 0 and the output type is the
  scale's (float32), so nothing changes; activation zero points stay, since a ``QuantizeLinear``'s
  output type comes from its zero point;
- attributes equal to their defaults are left out: those with a default in the operator schema
  (``group=1``, ``axis=1`` of ``DequantizeLinear``), ``axis`` of a per-tensor (scalar-scale)
  quantizer, which the standard ignores, and, for ``Conv``/``ConvTranspose``, ``dilations``/``strides``
  of ones, ``pads``/``output_padding`` of zeros and a ``kernel_shape`` equal to the constant weights'
  spatial shape, from which the standard infers it;
- a ``Relu`` whose only consumers are ``QuantizeLinear`` nodes with the lowest zero point of their type
  (uint8 0, int8 -128) is bypassed: such a quantizer saturates every negative input to that zero point,
  which is what it gives for the ``Relu``'s 0 (ONNX Runtime's own ``ReluQuantFusion`` removes the same
  ``Relu`` when it loads the graph).

Written by hand: neither ONNX nor ONNX Runtime ships such a pass (``onnx.compose`` renames by prefixing
only; ``onnxoptimizer`` and ORT's optimisers rewrite the computation, which is not wanted here). The
result passes ``onnx.checker``; the tests compare ONNX Runtime outputs before and after for equality.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: the 62 one-character names, most used tensors first
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: attributes of the convolutions whose unset value the standard defines (``None``: the weights' shape)
_CONV_DEFAULTS = {"dilations": 1, "strides": 1, "pads": 0, "output_padding": 0, "kernel_shape": None}


def compact_graph(data: bytes) -> bytes:
    """The same ONNX graph in fewer bytes (see the module docstring); checked with ``onnx.checker``."""
    import onnx

    model = onnx.load_from_string(data)
    g = model.graph
    _drop_zero_weight_zero_points(g)
    _bypass_relu_before_saturating_quantizers(g)
    _store_equal_constants_once(g)
    _drop_default_attributes(g, _opset(model))
    _short_names(g)
    for node in g.node:
        node.name = node.doc_string = ""
    del g.value_info[:]
    g.doc_string = model.doc_string = ""
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _opset(model: Any) -> int:
    """The default-domain opset version of ``model``."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _arrays(g: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in g.initializer}


def _drop_zero_weight_zero_points(g: Any) -> None:
    """Leave out all-zero zero points of ``DequantizeLinear`` nodes of constants (default: 0)."""
    inits = _arrays(g)
    for node in g.node:
        if (node.op_type == "DequantizeLinear" and len(node.input) == 3 and node.input[0] in inits
                and node.input[2] in inits and not inits[node.input[2]].any()):
            del node.input[2]


def _bypass_relu_before_saturating_quantizers(g: Any) -> None:
    """Drop each ``Relu`` read only by quantizers whose zero point is their type's minimum (see above)."""
    inits = _arrays(g)
    outputs = {o.name for o in g.output}
    readers: dict[str, list[Any]] = {}
    for node in g.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)

    def saturates_at_zero(node: Any) -> bool:
        zp = inits.get(node.input[2]) if len(node.input) == 3 else None
        return (node.op_type == "QuantizeLinear" and zp is not None and zp.ndim == 0
                and zp.dtype in (np.uint8, np.int8) and zp == np.iinfo(zp.dtype).min)

    kept = []
    for node in g.node:
        users = readers.get(node.output[0], []) if node.op_type == "Relu" else []
        if users and node.output[0] not in outputs and all(map(saturates_at_zero, users)):
            for user in users:
                user.input[0] = node.input[0]
            continue
        kept.append(node)
    del g.node[:]
    g.node.extend(kept)


def _store_equal_constants_once(g: Any) -> None:
    """Point every use of an initializer to the first equal one (same type, shape, bytes); drop the unused."""
    same: dict[tuple, str] = {}
    alias = {t.name: same.setdefault((t.data_type, tuple(t.dims), a.tobytes()), t.name)
             for t, a in zip(g.initializer, _arrays(g).values(), strict=True)}
    for node in g.node:
        node.input[:] = [alias.get(n, n) for n in node.input]
    used = {name for node in g.node for name in node.input}
    kept = [t for t in g.initializer if t.name in used and alias[t.name] == t.name]
    del g.initializer[:]
    g.initializer.extend(kept)


def _drop_default_attributes(g: Any, opset: int) -> None:
    """Remove attributes whose value is what the standard assumes when they are absent."""
    import onnx
    from onnx import helper

    inits = _arrays(g)
    weights = {n.output[0]: inits[n.input[0]] for n in g.node  # dequantized constant weights
               if n.op_type == "DequantizeLinear" and n.input[0] in inits}
    weights.update(inits)
    for node in g.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        schema = onnx.defs.get_schema(node.op_type, opset).attributes
        keep = []
        for attr in node.attribute:
            value = helper.get_attribute_value(attr)
            spec = schema.get(attr.name)
            default = (helper.get_attribute_value(spec.default_value)
                       if spec is not None and spec.default_value.name else None)
            if default is not None and value == default:
                continue
            if (attr.name == "axis" and node.op_type in ("QuantizeLinear", "DequantizeLinear")
                    and node.input[1] in inits and inits[node.input[1]].ndim == 0):
                continue  # per-tensor quantization: the standard ignores axis
            if node.op_type in ("Conv", "ConvTranspose") and attr.name in _CONV_DEFAULTS:
                unset = _CONV_DEFAULTS[attr.name]
                if unset is not None and all(v == unset for v in value):
                    continue
                w = weights.get(node.input[1])
                if unset is None and w is not None and list(value) == list(w.shape[2:]):
                    continue
            keep.append(attr)
        del node.attribute[:]
        node.attribute.extend(keep)


def _short_names(g: Any) -> None:
    """Rename every tensor but the graph's inputs and outputs, the most used ones shortest."""
    fixed = {v.name for v in (*g.input, *g.output)}
    uses: dict[str, int] = {}
    for name in [t.name for t in g.initializer] + [n for node in g.node for n in (*node.input, *node.output)]:
        if name and name not in fixed:
            uses[name] = uses.get(name, 0) + 1
    order = sorted(uses, key=lambda n: -uses[n])  # stable: ties keep their first appearance
    names: dict[str, str] = {}
    i = 0
    for name in order:
        while (new := _base62(i)) in fixed:
            i += 1
        names[name], i = new, i + 1
    for t in g.initializer:
        t.name, t.doc_string = names.get(t.name, t.name), ""
    for node in g.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]


def _base62(i: int) -> str:
    out = _ALPHABET[i % 62]
    while i := i // 62:
        out = _ALPHABET[i % 62] + out
    return out
