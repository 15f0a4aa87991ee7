"""Encoders and heads: shapes, masking, prompts, and the PhaseNet encoder against PhaseNet's own path."""

from __future__ import annotations

import pytest
import seisbench.models as sbm
import torch

from seisforge.errors import ConfigError
from seisforge.models.adapt import AdaptConfig, account, apply
from seisforge.models.encoders import (
    DetectionHead,
    EncoderTaskModel,
    MagnitudeHead,
    PatchTransformerEncoder,
    PhaseNetEncoder,
    TokenPickingHead,
)


@pytest.mark.parametrize("stem", ["linear", "conv"])
@pytest.mark.parametrize("channels", [3, 4])
def test_transformer_tokens_per_patch(stem, channels):
    enc = PatchTransformerEncoder(in_channels=channels, patch_samples=10, d_model=16, depth=2, n_heads=4,
                                  stem=stem).eval()
    assert enc(torch.randn(2, channels, 95)).shape == (2, 10, 16)      # 95 samples -> 10 patches (padded)
    assert enc(torch.randn(2, channels, 40)).shape == (2, 4, 16)       # other lengths work too
    assert isinstance(enc.blocks, torch.nn.ModuleList) and len(enc.blocks) == 2


@pytest.mark.parametrize("stem", ["linear", "conv"])
def test_tokens_see_only_their_own_patch_before_attention(stem):
    enc = PatchTransformerEncoder(patch_samples=10, d_model=16, depth=1, n_heads=2, stem=stem).eval()
    x = torch.randn(1, 3, 50)
    y = x.clone()
    y[..., 20:30] += 1.0                                                # change patch 2 only
    diff = (enc.embed(x) - enc.embed(y)).abs().sum(-1)[0]
    assert diff[2] > 0 and torch.all(diff[[0, 1, 3, 4]] == 0)


def test_mask_replaces_patches_by_the_mask_token():
    enc = PatchTransformerEncoder(patch_samples=10, d_model=16, depth=1, n_heads=2).eval()
    x, noise = torch.randn(1, 3, 50), torch.randn(1, 3, 50)
    mask = torch.tensor([[False, True, False, False, True]])
    y = x.clone()
    y[..., 10:20], y[..., 40:50] = noise[..., 10:20], noise[..., 40:50]    # change only masked patches
    assert torch.equal(enc(x, mask=mask), enc(y, mask=mask))
    assert not torch.equal(enc(x), enc(y))


def test_prompt_tokens_change_outputs_but_not_their_number():
    enc = PatchTransformerEncoder(patch_samples=10, d_model=16, depth=1, n_heads=2).eval()
    x = torch.randn(2, 3, 50)
    out = enc(x, prompt=torch.randn(3, 16))
    assert out.shape == enc(x).shape == (2, 5, 16)
    assert not torch.allclose(out, enc(x))
    assert enc(x, prompt=torch.randn(2, 3, 16)).shape == (2, 5, 16)


def test_bad_encoder_settings_are_config_errors():
    with pytest.raises(ConfigError, match="n_heads"):
        PatchTransformerEncoder(d_model=10, n_heads=4)
    with pytest.raises(ConfigError, match="stem"):
        PatchTransformerEncoder(stem="fft")
    with pytest.raises(ConfigError, match="max_patches"):
        PatchTransformerEncoder(patch_samples=10, max_patches=4)(torch.randn(1, 3, 50))


def test_heads_shapes():
    tokens = torch.randn(2, 5, 16)
    assert TokenPickingHead(16, 10, 3)(tokens, 47).shape == (2, 3, 47)
    assert TokenPickingHead(16, 10, 3, smooth_kernel=5)(tokens, 50).shape == (2, 3, 50)
    assert DetectionHead(16)(tokens).shape == (2, 2)
    assert MagnitudeHead(16)(tokens).shape == (2,)
    assert MagnitudeHead(32, channels_last=False)(torch.randn(2, 32, 7)).shape == (2,)


def _phasenet_path(model, x):
    """Bottleneck and skips of PhaseNet's own forward pass, caught with hooks on its BatchNorms."""
    caught = []
    if isinstance(model, sbm.PhaseNetLight):
        mods = [model.in_bn] + [getattr(model, f"bnd{i}") for i in range(1, 5)]
    else:
        mods = [block[1] for block in model.down_branch]
    hooks = [m.register_forward_hook(lambda _m, _i, out: caught.append(torch.relu(out))) for m in mods]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return caught[-1], caught[:-1]


@pytest.mark.parametrize(("cls", "n"), [(sbm.PhaseNet, 3001), (sbm.PhaseNetLight, 3001),
                                        (sbm.VariableLengthPhaseNet, 600)])
def test_phasenet_encoder_matches_phasenets_own_path(cls, n):
    torch.manual_seed(0)
    model = cls().eval()
    enc = PhaseNetEncoder.from_seisbench(model).eval()
    x = torch.randn(2, 3, n)
    want_bottleneck, want_skips = _phasenet_path(model, x)
    with torch.no_grad():
        bottleneck, skips = enc(x)
    assert torch.equal(bottleneck, want_bottleneck)
    assert len(skips) == len(want_skips) == 4
    assert all(torch.equal(a, b) for a, b in zip(skips, want_skips))
    assert enc.out_channels == bottleneck.shape[1]
    assert enc.inc is model.inc                                        # the model's own layers, shared


def test_phasenet_encoder_rejects_other_models():
    with pytest.raises(ConfigError, match="PhaseNet"):
        PhaseNetEncoder.from_seisbench(sbm.EQTransformer())


def test_phasenet_encoder_task_model_adapts_without_touching_the_source():
    source = sbm.PhaseNet()
    before = list(source.state_dict())
    model = EncoderTaskModel(PhaseNetEncoder.from_seisbench(source), DetectionHead(128, channels_last=False))
    apply(model, AdaptConfig("adapter", bottleneck=4))
    assert list(source.state_dict()) == before
    assert model(torch.randn(2, 3, 3001)).shape == (2, 2)


@pytest.mark.parametrize("method", ["lora", "dora"])
def test_lora_on_a_phasenet_picker_runs_forward_and_backward(method):
    torch.manual_seed(0)
    model = apply(sbm.PhaseNet(), AdaptConfig(method, rank=2))
    model.train()
    out = model(torch.randn(2, 3, 3001), logits=True)
    assert out.shape == (2, 3, 3001)
    out.pow(2).mean().backward()
    lora_grads = [p.grad for n, p in model.named_parameters() if "lora_" in n]
    assert lora_grads and all(g is not None for g in lora_grads)
    transposed = [m for m in model.modules() if isinstance(m, torch.nn.ConvTranspose1d)]
    assert len(transposed) == 4 and all(not p.requires_grad for m in transposed for p in m.parameters())
    assert set(account(model).unwrapped) == {f"up_branch.{i}.0" for i in range(4)}
