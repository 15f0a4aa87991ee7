"""Parameter accounting is exact: hand-computed counts on a tiny transformer for every method.

The tiny model (``foundation_helpers.TINY``): linear stem ``Linear(3*4, 8)``, a mask token (8), two
pre-norm blocks, a final LayerNorm, and a detection head ``LayerNorm(8) + Linear(8, 2)``.
"""

from __future__ import annotations

import json

import pytest
import seisbench.models as sbm
import torch
from foundation_helpers import tiny_transformer

from seisforge.models.adapt import (
    AdaptConfig,
    ParamAccount,
    account,
    adamw_state_bytes,
    apply,
    base_hash,
    save_adapter,
)

D, HID, PATCH_IN = 8, 16, 3 * 4
LN = 2 * D                                    # LayerNorm weight + bias


def lin(a: int, b: int) -> int:
    """Parameters of Linear(a, b) with bias."""
    return a * b + b


#: Linear layers of the body as (in, out): the stem, then per block qkv, proj, fc1, fc2
BODY_LINEARS = [(PATCH_IN, D)] + 2 * [(D, 3 * D), (D, D), (D, HID), (HID, D)]
BLOCK = LN + lin(D, 3 * D) + lin(D, D) + LN + lin(D, HID) + lin(HID, D)          # 600
BODY = lin(PATCH_IN, D) + D + 2 * BLOCK + LN                                    # 1328
HEAD = LN + lin(D, 2)                                                           # 34
BODY_BIASES = D + 2 * (D + 3 * D + D + D + HID + D) + D                         # 160

RANK, BOTTLENECK, PROMPTS = 2, 4, 3
EXPECTED = {  # method: (trainable, added)
    "full": (BODY + HEAD, 0),
    "linear_probe": (HEAD, 0),
    "partial": (BLOCK + LN + HEAD, 0),                                          # top block + final norm
    "lora": (sum(RANK * (a + b) for a, b in BODY_LINEARS) + HEAD, sum(RANK * (a + b) for a, b in BODY_LINEARS)),
    "dora": (sum(RANK * (a + b) + b for a, b in BODY_LINEARS) + HEAD,
             sum(RANK * (a + b) + b for a, b in BODY_LINEARS)),
    "bitfit": (BODY_BIASES + HEAD, 0),
    "ia3": (sum(b for _, b in BODY_LINEARS) + HEAD, sum(b for _, b in BODY_LINEARS)),
    "adapter": (2 * (2 * D * BOTTLENECK + BOTTLENECK + D) + HEAD, 2 * (2 * D * BOTTLENECK + BOTTLENECK + D)),
    "prompt": (PROMPTS * D + HEAD, PROMPTS * D),
}


def cfg_for(method: str, **kw) -> AdaptConfig:
    return AdaptConfig(method, rank=RANK, bottleneck=BOTTLENECK, n_prompts=PROMPTS, top_k=1, **kw)


def test_tiny_model_matches_the_hand_count():
    assert sum(p.numel() for p in tiny_transformer().parameters()) == BODY + HEAD == 1362


@pytest.mark.parametrize("method", list(EXPECTED))
def test_counts_are_exact(method, tmp_path):
    cfg = cfg_for(method)
    model = tiny_transformer()
    h = base_hash(model, cfg)
    apply(model, cfg)
    path = save_adapter(model, tmp_path / "a.safetensors", h, cfg)
    acc = account(model, path)
    trainable, added = EXPECTED[method]
    n_tensors = sum(1 for p in model.parameters() if p.requires_grad)
    assert (acc.trainable, acc.added, acc.total, acc.head) == (trainable, added, BODY + HEAD + added, HEAD)
    # AdamW keeps exp_avg and exp_avg_sq (float32) and a float32 step tensor per parameter tensor
    assert acc.optimizer_state_bytes == 8 * trainable + 4 * n_tensors
    assert acc.adapter_file_bytes == path.stat().st_size > 4 * trainable
    assert acc.trainable_pct == pytest.approx(100 * trainable / (BODY + HEAD + added))
    assert acc.mergeable == (method not in ("adapter", "prompt"))
    assert acc.unwrapped == {}


def test_lora_target_subset_counts_only_those_layers():
    model = apply(tiny_transformer(), cfg_for("lora", target_modules=["qkv"]))
    assert account(model).added == 2 * RANK * (D + 3 * D)


def test_head_can_stay_frozen():
    model = apply(tiny_transformer(), cfg_for("ia3", train_head=False))
    acc = account(model)
    assert acc.head == 0 and acc.trainable == sum(b for _, b in BODY_LINEARS)


def test_unwrapped_conv_transpose_layers_are_counted_and_frozen():
    torch.manual_seed(0)
    model = sbm.PhaseNet()
    transposed = {f"up_branch.{i}.0": model.up_branch[i][0].weight.numel() for i in range(4)}
    apply(model, AdaptConfig("lora", rank=2))
    acc = account(model)
    assert acc.unwrapped == transposed
    assert all(not p.requires_grad for n, p in model.named_parameters() if n.startswith("up_branch.") and
               n.split(".")[2] == "0")
    # head: PhaseNet's 1x1 output conv (8 -> 3, with bias)
    assert acc.head == 8 * 3 + 3
    assert "not wrapped, left frozen" in acc.format()


def test_format_and_to_dict():
    acc = account(apply(tiny_transformer(), cfg_for("lora")))
    text = acc.format()
    assert "lora (mergeable)" in text and f"{acc.trainable:,}" in text and "head" in text
    data = json.loads(json.dumps(acc.to_dict()))
    assert data["trainable"] == acc.trainable and data["trainable_pct"] == pytest.approx(acc.trainable_pct)
    assert isinstance(acc, ParamAccount)


def test_adamw_state_is_measured_not_guessed():
    params = [torch.zeros(5, 3), torch.zeros(7, dtype=torch.float64)]
    assert adamw_state_bytes(params) == 2 * 15 * 4 + 4 + 2 * 7 * 8 + 4
