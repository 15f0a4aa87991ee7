"""Tiny models and helpers for the foundation tests (seeded, CPU, a few thousand parameters)."""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from seisforge.models.encoders import DetectionHead, EncoderTaskModel, PatchTransformerEncoder

#: the tiny transformer: 3 channels, 4-sample patches, d_model 8, 2 blocks, MLP hidden 16, 16 samples in
TINY = {"in_channels": 3, "patch_samples": 4, "d_model": 8, "depth": 2, "n_heads": 2, "mlp_ratio": 2.0}
TINY_SAMPLES = 16


def tiny_transformer(seed: int = 0, head_seed: int | None = None, **overrides) -> EncoderTaskModel:
    """A 2-block patch transformer (d_model 8) with a detection head; ``head_seed`` re-draws the head."""
    torch.manual_seed(seed)
    model = EncoderTaskModel(PatchTransformerEncoder(**{**TINY, **overrides}),
                             DetectionHead(overrides.get("d_model", TINY["d_model"])))
    if head_seed is not None:
        torch.manual_seed(head_seed)
        model.head = DetectionHead(model.encoder.d_model)
    return model


def tiny_light(seed: int = 0) -> nn.Module:
    """A seeded SeisBench PhaseNetLight (random weights, BatchNorms, ConvTranspose1d decoder)."""
    import seisbench.models as sbm

    torch.manual_seed(seed)
    return sbm.PhaseNetLight()


def run(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Model output as logits (SeisBench pickers) or head output."""
    import seisbench.models as sbm

    return model(x, logits=True) if isinstance(model, sbm.WaveformModel) else model(x)


def train_steps(model: nn.Module, x: torch.Tensor, steps: int = 3, lr: float = 1e-2) -> None:
    """A few AdamW steps (no weight decay, so only parameters with gradients move)."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        run(model, x).float().pow(2).mean().backward()
        opt.step()
    model.eval()


def tensor_hashes(model: nn.Module) -> dict[str, str]:
    """sha256 of every parameter and buffer, by state-dict name."""
    return {k: hashlib.sha256(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
            .hexdigest() for k, v in model.state_dict().items()}
