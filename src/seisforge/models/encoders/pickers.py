"""Task models built from an encoder and a head: a SeisBench picker and a plain encoder+head module.

:class:`EncoderPicker` is a ``seisbench.models.WaveformModel`` with PhaseNet's array interface, so
``annotate``/``classify``, SeisBench's ``save``/``load`` and every seisforge tool that takes a SeisBench
picker work with it. Its window normalisation, annotation post-processing and pick extraction are
PhaseNet's own methods called on this model (one implementation, not a copy), which read the same
attributes (``norm``, ``norm_detrend``, ``norm_amp_per_comp``, ``labels``, ``_annotate_args``).
"""

from __future__ import annotations

from typing import Any

import seisbench.models as sbm
import seisbench.util as sbu
import torch
from torch import nn

from seisforge import seisbench_compat
from seisforge.errors import ConfigError
from seisforge.models.encoders.heads import TokenPickingHead
from seisforge.models.encoders.patch_transformer import PatchTransformerEncoder
from seisforge.models.encoders.phasenet_encoder import PhaseNetEncoder

#: keys of WaveformModel.get_model_args that EncoderPicker sets itself (PhaseNet drops the same ones)
_FIXED_ARGS = ("citation", "output_type", "default_args", "pred_sample", "labels")


class EncoderPicker(sbm.WaveformModel):
    """Phase picker: :class:`PatchTransformerEncoder` + :class:`TokenPickingHead`.

    Parameters
    ----------
    in_channels
        Input components.
    phases
        Output label order, one letter per class (``"PSN"``: P, S, noise).
    component_order
        Component letters in input order; defaults to ``"ZNE"`` (3 channels) or ``"ZNEH"`` (4, H the
        hydrophone).
    sampling_rate, in_samples
        Sampling rate (Hz) and window length (samples); ``pred_sample`` is the whole window.
    norm
        Window normalisation after demeaning, as PhaseNet: ``"std"`` or ``"peak"``.
    smooth_kernel
        Smoothing kernel of the picking head (0: none).
    **kwargs
        Encoder settings (``patch_samples``, ``d_model``, ``depth``, ``n_heads``, ``mlp_ratio``,
        ``dropout``, ``stem``, ``max_patches``) and WaveformModel arguments (``grouping``, ``filter_args``,
        ...).
    """

    _annotate_args = seisbench_compat.annotate_args_copy(sbm.PhaseNet)

    def __init__(self, in_channels: int = 3, phases: str = "PSN", component_order: str | None = None,
                 sampling_rate: float = 100, in_samples: int = 3001, norm: str = "std",
                 smooth_kernel: int = 0, **kwargs: Any):
        enc_keys = ("patch_samples", "d_model", "depth", "n_heads", "mlp_ratio", "dropout", "stem",
                    "max_patches")
        enc_args = {k: kwargs.pop(k) for k in enc_keys if k in kwargs}
        component_order = component_order or ("ZNE" if in_channels == 3 else "ZNEH"[:in_channels])
        _check_picker(in_channels, phases, component_order, norm)
        super().__init__(citation="seisforge EncoderPicker (patch transformer encoder + token head)",
                         in_samples=in_samples, output_type="array", pred_sample=(0, in_samples),
                         labels=phases, sampling_rate=sampling_rate, component_order=component_order,
                         **kwargs)
        self.in_channels, self.classes, self.norm = in_channels, len(phases), norm
        self.norm_detrend = self.norm_amp_per_comp = False
        self.smooth_kernel = smooth_kernel
        if in_samples <= seisbench_compat.default_annotate_arg(self, "overlap"):
            self.default_args.setdefault("overlap", in_samples // 2)
        self.encoder = PatchTransformerEncoder(in_channels=in_channels, **enc_args)
        self.head = TokenPickingHead(self.encoder.d_model, self.encoder.patch_samples, self.classes,
                                     smooth_kernel)

    def forward(self, x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        """Class probabilities (softmax over classes) or logits, ``(B, classes, T)``."""
        out = self.head(self.encoder(x), x.shape[-1])
        return out if logits else torch.softmax(out, dim=1)

    def annotate_batch_pre(self, batch: torch.Tensor, argdict: dict[str, Any]) -> torch.Tensor:
        """PhaseNet's window normalisation (demean, then std or peak)."""
        return sbm.PhaseNet.annotate_batch_pre(self, batch, argdict)

    def annotate_batch_post(self, batch: torch.Tensor, piggyback: Any, argdict: dict[str, Any]) -> torch.Tensor:
        """PhaseNet's post-processing (time axis last to first, optional blinding)."""
        return sbm.PhaseNet.annotate_batch_post(self, batch, piggyback, argdict)

    def classify_aggregate(self, annotations: Any, argdict: dict[str, Any]) -> sbu.ClassifyOutput:
        """PhaseNet's picks from the annotation curves (``P_threshold``/``S_threshold``)."""
        return sbm.PhaseNet.classify_aggregate(self, annotations, argdict)

    def get_model_args(self) -> dict[str, Any]:
        """Constructor arguments for SeisBench's ``save``/``load``."""
        args = {k: v for k, v in super().get_model_args().items() if k not in _FIXED_ARGS}
        enc = self.encoder.config()
        enc.pop("in_channels")
        return {**args, **enc, "in_channels": self.in_channels, "phases": self.labels, "norm": self.norm,
                "smooth_kernel": self.smooth_kernel}


class EncoderTaskModel(nn.Module):
    """An encoder and a task head as one module (detection, magnitude, or picking without SeisBench).

    Parameters
    ----------
    encoder
        :class:`PatchTransformerEncoder` (features: tokens) or :class:`PhaseNetEncoder` (features: the
        bottleneck; skips unused).
    head
        A head from :mod:`seisforge.models.encoders.heads`.
    task
        What the head predicts (``detection``, ``magnitude``, ``picking``); recorded on the model card.
    sampling_rate, in_samples, component_order, norm
        The input the model expects (as a SeisBench picker's attributes of the same names): the rate
        (Hz), the window (samples), the component letters and the window normalisation the data get
        before the model (``std`` or ``peak`` after demeaning; ``none``: demeaned only).
    amplitude_features
        ``std`` or ``peak``: the model normalises each component itself by that rule (so ``norm`` must be
        ``none``) and passes the log10 of the per-component scales to the head as extra inputs. Magnitude
        needs this: a window divided by its own amplitude has lost what magnitude depends on most.
    """

    #: output labels per task (the card's ``labels``): detection logits are (event, noise); magnitude is one value
    TASK_LABELS = {"detection": "EN", "magnitude": "M"}

    def __init__(self, encoder: nn.Module, head: nn.Module, task: str = "detection", sampling_rate: float = 100.0,
                 in_samples: int = 3001, component_order: str = "ZNE", norm: str = "std",
                 amplitude_features: str | None = None):
        super().__init__()
        if amplitude_features not in (None, "std", "peak") or (amplitude_features and norm != "none"):
            raise ConfigError(f"amplitude_features must be None, 'std' or 'peak' with norm 'none', got "
                              f"{amplitude_features!r} with norm {norm!r}")
        self.encoder, self.head = encoder, head
        self.task, self.sampling_rate, self.in_samples = task, float(sampling_rate), int(in_samples)
        self.component_order, self.norm, self.amplitude_features = component_order, norm, amplitude_features
        self.labels = self.TASK_LABELS.get(task, "PSN")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Head output for waveforms ``x`` ``(B, C, T)``: detection logits ``(B, 2)`` (event, noise),
        magnitudes ``(B,)``, or picking logits ``(B, classes, T)``."""
        extra = None
        if self.amplitude_features is not None:
            scale = (x.std(dim=-1, keepdim=True) if self.amplitude_features == "std"
                     else x.abs().amax(dim=-1, keepdim=True)) + 1e-10
            x, extra = x / scale, torch.log10(scale[..., 0])
        features = self.encoder(x)
        if isinstance(self.encoder, PhaseNetEncoder):
            features = features[0]
        if isinstance(self.head, TokenPickingHead):
            return self.head(features, x.shape[-1])
        return self.head(features) if extra is None else self.head(features, extra)


def _check_picker(in_channels: int, phases: str, component_order: str, norm: str) -> None:
    """Raise ConfigError naming the first inconsistent picker setting."""
    if len(component_order) != in_channels:
        raise ConfigError(f"component_order {component_order!r} has {len(component_order)} letters for "
                          f"in_channels={in_channels}")
    if not isinstance(phases, str) or len(set(phases)) != len(phases) or not phases:
        raise ConfigError(f"phases must be distinct one-letter labels such as 'PSN', got {phases!r}")
    if norm not in ("std", "peak"):
        raise ConfigError(f"norm must be 'std' or 'peak', got {norm!r}")
