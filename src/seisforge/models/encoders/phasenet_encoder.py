"""The encoder half of a SeisBench PhaseNet, PhaseNetLight or VariableLengthPhaseNet.

:meth:`PhaseNetEncoder.from_seisbench` reuses the model's own layer objects (``inc``, ``in_bn`` and the
down-branch convolutions and BatchNorms), so the encoder starts from the model's weights and training it
trains them. Only the containers are new: ``blocks`` is a fresh ``nn.ModuleList`` of fresh per-block
``nn.ModuleList`` s holding the shared layers, so wrapping a layer of the encoder for adaptation never
changes the structure of the SeisBench model it came from.

The forward pass follows the model's own encoder path step by step: PhaseNet's manual padding before the
strided convolutions of blocks 1-3, none for VariableLengthPhaseNet (its convolutions pad themselves), and
PhaseNetLight's four strided ``Conv1dSame`` layers.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seisforge.errors import ConfigError

#: PhaseNet's manual (left, right) padding before the strided convolution of down blocks 1-3
PHASENET_PADS = {1: (2, 3), 2: (1, 3), 3: (2, 3)}


class PhaseNetEncoder(nn.Module):
    """PhaseNet's down branch as a stand-alone encoder.

    Parameters
    ----------
    inc, in_bn
        The input convolution and its BatchNorm.
    blocks
        Down blocks in forward order, each ``[conv_same, bn1, conv_down, bn2]`` (``conv_down``/``bn2``
        None in the last block) or PhaseNetLight's ``[conv, bn]``.
    pads
        Manual padding before each block's strided convolution, by block index.
    light
        True for PhaseNetLight's blocks (every block strided, every output a skip except the last).

    Attributes
    ----------
    out_channels : int
        Channels of the bottleneck features.
    """

    def __init__(self, inc: nn.Module, in_bn: nn.Module, blocks: nn.ModuleList,
                 pads: dict[int, tuple[int, int]] | None = None, light: bool = False):
        super().__init__()
        self.inc, self.in_bn, self.blocks = inc, in_bn, blocks
        self.pads = dict(pads or {})
        self.light = light
        self.out_channels = _out_channels(blocks[-1][-1] if light else blocks[-1][1])

    @classmethod
    def from_seisbench(cls, model: Any) -> PhaseNetEncoder:
        """The encoder of a SeisBench ``PhaseNet``/``VariableLengthPhaseNet``/``PhaseNetLight``.

        Raises
        ------
        ConfigError
            When ``model`` is none of these.
        """
        import seisbench.models as sbm

        if isinstance(model, sbm.PhaseNetLight):
            blocks = nn.ModuleList(nn.ModuleList([getattr(model, f"conv{i}"), getattr(model, f"bnd{i}")])
                                   for i in range(1, 5))
            return cls(model.inc, model.in_bn, blocks, light=True)
        if isinstance(model, sbm.PhaseNet) and getattr(model, "down_branch", None) is not None:
            blocks = nn.ModuleList(nn.ModuleList(list(block)) for block in model.down_branch)
            pads = {} if isinstance(model, sbm.VariableLengthPhaseNet) else PHASENET_PADS
            return cls(model.inc, model.in_bn, blocks, pads=pads)
        raise ConfigError(f"PhaseNetEncoder needs a SeisBench PhaseNet, VariableLengthPhaseNet or "
                          f"PhaseNetLight, got {type(model).__name__}")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Encode ``x`` ``(B, C, T)``.

        Returns
        -------
        bottleneck : torch.Tensor
            The deepest features ``(B, out_channels, L)``.
        skips : list of torch.Tensor
            The skip tensors in forward order (shallowest first), as PhaseNet's decoder consumes them
            in reverse.
        """
        x = torch.relu(self.in_bn(self.inc(x)))
        if self.light:
            return self._forward_light(x)
        skips = []
        for i, (conv_same, bn1, conv_down, bn2) in enumerate(self.blocks):
            x = torch.relu(bn1(conv_same(x)))
            if conv_down is not None:
                skips.append(x)
                if i in self.pads:
                    x = F.pad(x, self.pads[i], "constant", 0)
                x = torch.relu(bn2(conv_down(x)))
        return x, skips

    def _forward_light(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """PhaseNetLight's path: the input features and blocks 1-3 are skips, block 4 the bottleneck."""
        skips = [x]
        for conv, bn in self.blocks:
            x = torch.relu(bn(conv(x)))
            skips.append(x)
        return skips.pop(), skips


def _out_channels(bn: nn.Module) -> int:
    """Channels of a BatchNorm's output."""
    return int(bn.num_features)
