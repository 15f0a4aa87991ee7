"""Which parts of a model are the pretrained body, its blocks, and the new task head.

Adaptation methods (``seisforge.models.adapt``) need to know, for any supported model, which parameters
belong to the task head (new, trainable when ``train_head``), the order of the body's blocks ("top k"),
where residual adapters go, and whether a token encoder takes prompt tokens. :func:`model_parts` answers
that for:

- models with ``encoder`` and ``head`` attributes (:class:`~seisforge.models.encoders.pickers.EncoderPicker`,
  :class:`~seisforge.models.encoders.pickers.EncoderTaskModel`);
- SeisBench ``PhaseNet``/``VariableLengthPhaseNet`` and ``PhaseNetLight``, adapted whole for picking: the
  body is the encoder *and* the pretrained decoder, the head is the 1x1 ``out`` layer, and the blocks are
  the down blocks then the up blocks in forward order (so "top k" are the k blocks nearest the output).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from seisforge.errors import ConfigError
from seisforge.models.encoders.patch_transformer import PatchTransformerEncoder
from seisforge.models.encoders.phasenet_encoder import PhaseNetEncoder


@dataclass(frozen=True)
class AdapterSite:
    """A module after whose output a residual adapter goes.

    Attributes
    ----------
    name
        Module name in the model.
    dim
        Feature width of its output.
    channel_axis
        -1 for tokens ``(B, N, D)``, 1 for conv features ``(B, C, L)``.
    """

    name: str
    dim: int
    channel_axis: int


@dataclass(frozen=True)
class ModelParts:
    """The adaptation-relevant layout of a model.

    Attributes
    ----------
    kind
        ``"transformer"`` or ``"conv"``.
    head
        Module names of the task head; everything else is the body.
    blocks
        Body blocks in forward order, each a tuple of module names.
    after_blocks
        Body modules above the last block (a final norm), trained together with the top blocks.
    adapter_sites
        Where residual adapters go.
    token_encoder
        Module name of the :class:`PatchTransformerEncoder` that takes prompt tokens, else None.
    """

    kind: str
    head: tuple[str, ...]
    blocks: tuple[tuple[str, ...], ...]
    after_blocks: tuple[str, ...]
    adapter_sites: tuple[AdapterSite, ...]
    token_encoder: str | None

    def in_head(self, name: str) -> bool:
        """True when parameter/module ``name`` belongs to the head."""
        return any(name == h or name.startswith(h + ".") for h in self.head)


def model_parts(model: nn.Module) -> ModelParts:
    """The :class:`ModelParts` of a supported model.

    Raises
    ------
    ConfigError
        For a model of unknown layout (the message lists the supported ones).
    """
    import seisbench.models as sbm

    encoder = getattr(model, "encoder", None)
    if isinstance(encoder, PatchTransformerEncoder) and isinstance(getattr(model, "head", None), nn.Module):
        return _transformer_parts(encoder)
    if isinstance(encoder, PhaseNetEncoder) and isinstance(getattr(model, "head", None), nn.Module):
        return _conv_parts(model, [(f"encoder.blocks.{i}",) for i in range(len(encoder.blocks))])
    if isinstance(model, sbm.PhaseNetLight):
        down = [(f"conv{i}", f"bnd{i}") for i in range(1, 5)]
        return _conv_parts(model, down + [(f"up{i}", f"bnu{i}") for i in range(1, 5)], head=("out",))
    if isinstance(model, sbm.PhaseNet) and getattr(model, "down_branch", None) is not None:
        blocks = [(f"down_branch.{i}",) for i in range(len(model.down_branch))]
        blocks += [(f"up_branch.{i}",) for i in range(len(model.up_branch))]
        return _conv_parts(model, blocks, head=("out",))
    raise ConfigError(f"cannot adapt a {type(model).__name__}: supported are models with an `encoder` "
                      "(PatchTransformerEncoder or PhaseNetEncoder) and a `head`, and SeisBench PhaseNet, "
                      "VariableLengthPhaseNet and PhaseNetLight")


def _transformer_parts(encoder: PatchTransformerEncoder) -> ModelParts:
    """Parts of an ``encoder``/``head`` model around a patch transformer."""
    blocks = tuple((f"encoder.blocks.{i}",) for i in range(len(encoder.blocks)))
    sites = tuple(AdapterSite(b[0], encoder.d_model, -1) for b in blocks)
    return ModelParts("transformer", ("head",), blocks, ("encoder.norm",), sites, "encoder")


def _conv_parts(model: nn.Module, blocks: list[tuple[str, ...]], head: tuple[str, ...] = ("head",)) -> ModelParts:
    """Parts of a conv model: adapters after every BatchNorm of the body (each conv + BN unit)."""
    sites = tuple(AdapterSite(name, int(mod.num_features), 1) for name, mod in model.named_modules()
                  if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm))
                  and not any(name == h or name.startswith(h + ".") for h in head))
    return ModelParts("conv", head, tuple(blocks), (), sites, None)


def body_modules(model: nn.Module, parts: ModelParts) -> dict[str, Any]:
    """``{name: module}`` of every body module (not in the head), the model itself excluded."""
    return {name: mod for name, mod in model.named_modules() if name and not parts.in_head(name)}
