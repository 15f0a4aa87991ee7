"""Pretraining objectives: masked reconstruction only on masked patches, per-patch targets, InfoNCE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seisforge.models.encoders import PatchTransformerEncoder, PhaseNetEncoder
from seisforge.train.pretrain import objectives as obj
from seisforge.train.pretrain.windows import normalise


def _mae(kind: str) -> obj.MaeObjective:
    torch.manual_seed(0)
    if kind == "transformer":
        enc = PatchTransformerEncoder(in_channels=3, patch_samples=20, d_model=16, depth=1, n_heads=2)
    else:
        import seisbench.models as sbm

        enc = PhaseNetEncoder.from_seisbench(sbm.PhaseNetLight())
    return obj.MaeObjective(enc, 3, mask_ratio=0.5, mask_span=20, decoder_hidden=8).eval()


@pytest.mark.parametrize("kind", ["transformer", "conv"])
def test_mae_loss_counts_masked_patches_only(kind):
    mae = _mae(kind)
    x = torch.randn(2, 3, 400)
    mask = obj.random_mask(2, 20, 0.5, torch.Generator().manual_seed(1))
    assert mask.sum(1).tolist() == [10, 10]
    with torch.no_grad():
        pred, _ = mae.reconstruct(x, mask)
        target = obj.normalise_targets(obj.patchify(x, 20), "patch", 3)
        loss = obj.masked_mse(pred, target, mask)
        changed_unmasked = target.clone()
        changed_unmasked[~mask] += 5.0
        changed_masked = target.clone()
        changed_masked[mask] += 5.0
        assert torch.equal(obj.masked_mse(pred, changed_unmasked, mask), loss)
        assert obj.masked_mse(pred, changed_masked, mask) > loss + 1.0
        # what lies under the mask never reaches the prediction
        hidden = x.clone().reshape(2, 3, 20, 20)
        hidden[mask[:, None, :, None].expand_as(hidden)] = 7.0
        pred_hidden, _ = mae.reconstruct(hidden.reshape(2, 3, 400), mask)
    assert torch.allclose(pred_hidden, pred, atol=1e-5)


def test_targets_are_normalised_per_patch():
    x = torch.randn(1, 3, 60)
    t = obj.normalise_targets(obj.patchify(x, 20), "patch", 3)
    assert torch.allclose(t.mean(-1), torch.zeros(1, 3), atol=1e-5)
    assert torch.allclose(t.std(-1, unbiased=False), torch.ones(1, 3), atol=1e-3)
    scaled = x.clone()
    scaled[..., 20:40] = 50.0 * scaled[..., 20:40] + 3.0  # one patch scaled and shifted
    t2 = obj.normalise_targets(obj.patchify(scaled, 20), "patch", 3)
    assert torch.allclose(t2, t, atol=1e-4)
    per_channel = obj.normalise_targets(obj.patchify(x, 20), "patch_channel", 3).reshape(1, 3, 3, 20)
    assert torch.allclose(per_channel.mean(-1), torch.zeros(1, 3, 3), atol=1e-5)


def test_info_nce_prefers_matching_views():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(16, 8, generator=g)
    noisy = z + 0.05 * torch.randn(16, 8, generator=g)
    shuffled = noisy[torch.randperm(16, generator=g)]
    assert obj.info_nce(z, noisy, 0.1) < 0.1 < obj.info_nce(z, shuffled, 0.1)


def test_priors():
    torch.manual_seed(0)
    enc = PatchTransformerEncoder(in_channels=3, patch_samples=20, d_model=16, depth=1, n_heads=2)
    init = {k: v.detach().clone() for k, v in enc.named_parameters()}
    feats = torch.randn(2, 5, 16)
    assert float(obj.prior_term("l2_to_init", enc, init, feats).detach()) == 0.0
    with torch.no_grad():
        enc.norm.weight.add_(0.5)
    assert float(obj.prior_term("l2_to_init", enc, init, feats).detach()) == pytest.approx(16 * 0.25, rel=1e-5)
    smooth = feats[:, :1].expand(2, 5, 16)
    assert float(obj.prior_term("smoothness", enc, None, smooth)) == 0.0 < float(
        obj.prior_term("smoothness", enc, None, feats))


def test_window_normalisation_is_phasenets():
    import seisbench.models as sbm

    w = np.random.default_rng(0).standard_normal((3, 500)).astype(np.float32) * [[1.0], [10.0], [0.1]] + 4.0
    ref = sbm.PhaseNet.annotate_batch_pre(sbm.PhaseNet(), torch.from_numpy(w[None]), {})[0].numpy()
    assert np.allclose(normalise(w), ref, atol=1e-4)
