"""Structured pruning with torch-pruning: channels are physically removed, so size and time shrink.

``torch.nn.utils.prune`` only masks weights; torch-pruning's ``DependencyGraph`` removes whole channels
and every coupled channel with them: the batch norm after a conv, the ``ConvTranspose1d`` of PhaseNet's
up branch, and both halves of each skip-connection ``torch.cat``. The output convolution keeps its
channels (the classes), and the input convolution its 3 components.

torch-pruning 1.6 treats a slice along dim 2 of a 3-D tensor as a channel slice (the transformer
``(B, N, C)`` layout). PhaseNet's crops (``x[:, :, 1:-2]`` and ``_merge_skip``) slice *time* in
``(B, C, T)``; :func:`_channels_first_slices` makes torch-pruning ignore slices off the channel axis while
the graph is built, which is what keeps the skip connections consistent.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from seisforge.errors import ConfigError


@contextlib.contextmanager
def _channels_first_slices():
    from torch_pruning import ops
    from torch_pruning.dependency import index_mapping

    original = index_mapping.update_slice_index_mapping

    def channel_slices_only(graph, node):
        if node.type == ops.OPTYPE.SLICE and node.module.dim != 1:
            return None
        return original(graph, node)

    index_mapping.update_slice_index_mapping = channel_slices_only
    try:
        yield
    finally:
        index_mapping.update_slice_index_mapping = original


def prunable_convs(model: Any) -> list[tuple[str, Any]]:
    """The convolutions whose output channels pruning may remove (all but the output layer)."""
    out = getattr(model, "out", None)
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, torch.nn.modules.conv._ConvNd) and m is not out]


def check_ratio(model: Any, ratio: float) -> None:
    """A ratio in (0, 1) that leaves every prunable layer at least one channel, or a :class:`ConfigError`."""
    if not 0 < ratio < 1:
        hint = " (1 would remove every channel: whole layers)" if ratio >= 1 else ""
        raise ConfigError(f"--ratio must be in (0, 1), the fraction of channels removed per layer; got {ratio}{hint}")
    for name, conv in prunable_convs(model):
        if conv.out_channels - int(conv.out_channels * ratio) < 1:
            raise ConfigError(f"--ratio {ratio} removes the whole layer {name} ({conv.out_channels} channels); "
                              f"the largest ratio that keeps one channel there is "
                              f"{(conv.out_channels - 1) / conv.out_channels:.3f}")


def prune_channels(model: Any, ratio: float, importance: str = "l2") -> dict[str, Any]:
    """Remove ``ratio`` of the output channels of each prunable conv (in place); returns a summary.

    ``importance``: ``l2`` (weight magnitude, for trained models) or ``random`` (a width-scaled random
    initialisation for a distillation student).
    """
    import torch_pruning as tp

    check_ratio(model, ratio)
    model.eval()
    example = torch.randn(1, len(model.component_order), int(model.in_samples))
    before = sum(p.numel() for p in model.parameters())
    imp = tp.importance.RandomImportance() if importance == "random" else tp.importance.MagnitudeImportance(p=2)
    with _channels_first_slices():
        pruner = tp.pruner.BasePruner(model, example, importance=imp, pruning_ratio=ratio,
                                      ignored_layers=[model.out], global_pruning=False)
        pruner.step()
    with torch.no_grad():
        shape = tuple(model(example).shape)
    if shape != (1, len(model.labels), int(model.in_samples)):
        raise ConfigError(f"pruning changed the output shape to {shape}")
    return {"ratio": ratio, "importance": importance, "parameters_before": before,
            "parameters_after": sum(p.numel() for p in model.parameters()),
            "channels": {n: int(m.out_channels) for n, m in prunable_convs(model)}}
