"""Encoders for foundation-model work (self-supervised pretraining, then adaptation) and their task heads.

- :class:`PatchTransformerEncoder`: transformer over hard waveform patches.
- :class:`PhaseNetEncoder`: the encoder half of a SeisBench PhaseNet/PhaseNetLight, sharing its layers.
- heads: :class:`TokenPickingHead`, :class:`DetectionHead`, :class:`MagnitudeHead`.
- :class:`EncoderPicker` (a SeisBench picker) and :class:`EncoderTaskModel` (encoder + head).
- :func:`model_parts`: body/head/blocks layout used by ``seisforge.models.adapt``.
"""

from seisforge.models.encoders.heads import DetectionHead, MagnitudeHead, PooledHead, TokenPickingHead
from seisforge.models.encoders.parts import AdapterSite, ModelParts, model_parts
from seisforge.models.encoders.patch_transformer import PatchTransformerEncoder
from seisforge.models.encoders.phasenet_encoder import PhaseNetEncoder
from seisforge.models.encoders.pickers import EncoderPicker, EncoderTaskModel

__all__ = ["AdapterSite", "DetectionHead", "EncoderPicker", "EncoderTaskModel", "MagnitudeHead", "ModelParts",
           "PatchTransformerEncoder", "PhaseNetEncoder", "PooledHead", "TokenPickingHead", "model_parts"]
