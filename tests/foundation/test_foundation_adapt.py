"""Adaptation methods: what trains and what stays frozen, merging, adapter files, configuration errors."""

from __future__ import annotations

import pytest
import torch
from foundation_helpers import TINY_SAMPLES, run, tensor_hashes, tiny_light, tiny_transformer, train_steps

from seisforge.errors import ConfigError, DataError
from seisforge.models.adapt import (
    METHOD_NAMES,
    AdaptConfig,
    apply,
    base_hash,
    load_adapter,
    merge,
    read_adapter,
    save_adapter,
)
from seisforge.models.adapt.common import adapter_state
from seisforge.models.adapt.io import canonical_name
from seisforge.models.encoders import MagnitudeHead

#: a window length PhaseNetLight's skip connections fit (as 3001 does), short to keep the tests fast
LIGHT_SAMPLES = 441
CONV_METHODS = [m for m in METHOD_NAMES if m != "prompt"]
MERGEABLE = [m for m in METHOD_NAMES if m not in ("adapter", "prompt")]


def small_cfg(method: str, **kw) -> AdaptConfig:
    return AdaptConfig(method, rank=2, bottleneck=4, n_prompts=3, **kw)


def inputs(kind: str) -> torch.Tensor:
    torch.manual_seed(123)
    return torch.randn(2, 3, TINY_SAMPLES if kind == "transformer" else LIGHT_SAMPLES)


def build(kind: str, seed: int = 0):
    return tiny_transformer(seed) if kind == "transformer" else tiny_light(seed)


CASES = [("transformer", m) for m in METHOD_NAMES] + [("conv", m) for m in CONV_METHODS]


@pytest.mark.parametrize(("kind", "method"), CASES)
def test_frozen_tensors_unchanged_and_trainable_ones_changed(kind, method):
    model = build(kind)
    before = tensor_hashes(model)
    apply(model, small_cfg(method))
    saved = {canonical_name(k) for k in adapter_state(model)}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    train_steps(model, inputs(kind))
    after = {canonical_name(k): v for k, v in tensor_hashes(model).items()}
    frozen = [k for k in before if k not in saved]
    assert frozen or method == "full"
    assert all(after[k] == before[k] for k in frozen), [k for k in frozen if after[k] != before[k]]
    # the mask token is used by masked pretraining only, so no task loss reaches it
    unchanged = [n for n in trainable if torch.equal(start[n], dict(model.named_parameters())[n])
                 and n != "encoder.mask_token"]
    assert not unchanged


@pytest.mark.parametrize(("kind", "method"), [c for c in CASES if c[1] in MERGEABLE])
def test_merge_gives_the_same_outputs_and_the_original_structure(kind, method):
    model = build(kind)
    base_keys = list(model.state_dict())
    cfg = small_cfg(method)
    apply(model, cfg)
    train_steps(model, inputs(kind))
    x = inputs(kind)
    with torch.no_grad():
        expected = run(model, x)
        merged = merge(model, cfg)
        got = run(merged.eval(), x)
    assert (got - expected).abs().max().item() < 1e-5
    assert list(merged.state_dict()) == base_keys
    assert all(p.requires_grad for p in merged.parameters())
    assert all(m.training for m in merged.train().modules())            # no BatchNorm left pinned to eval
    layer, cls = ("encoder.blocks.0.attn.qkv", torch.nn.Linear) if kind == "transformer" else \
        ("conv1.conv", torch.nn.Conv1d)
    assert type(merged.get_submodule(layer)) is cls


@pytest.mark.parametrize("method", ["adapter", "prompt"])
def test_merge_refuses_non_mergeable_methods(method):
    cfg = small_cfg(method)
    model = apply(tiny_transformer(), cfg)
    with pytest.raises(ConfigError, match="not mergeable"):
        merge(model, cfg)


@pytest.mark.parametrize(("kind", "method"), CASES)
def test_adapter_round_trip_into_a_fresh_base(kind, method, tmp_path):
    cfg = small_cfg(method)
    model = build(kind)
    h = base_hash(model, cfg)
    apply(model, cfg)
    train_steps(model, inputs(kind))
    path = save_adapter(model, tmp_path / "a.safetensors", h, cfg)
    # a fresh base; the transformer's head is re-drawn (it is new and travels in the adapter file)
    fresh = tiny_transformer(0, head_seed=7) if kind == "transformer" else tiny_light(0)
    loaded = load_adapter(fresh, path)
    x = inputs(kind)
    with torch.no_grad():
        assert torch.equal(run(loaded.eval(), x), run(model.eval(), x))
    tensors, meta = read_adapter(path)
    assert meta["method"] == method and meta["base_hash"] == h
    assert set(tensors) == set(adapter_state(model))


def test_loading_into_another_base_names_both(tmp_path):
    cfg = small_cfg("lora")
    model = tiny_transformer(0)
    h = base_hash(model, cfg)
    path = save_adapter(apply(model, cfg), tmp_path / "a.safetensors", h, cfg)
    with pytest.raises(DataError, match=rf"trained on base EncoderTaskModel \(hash {h[:16]}\).*given base is "
                                        r"EncoderTaskModel \(hash [0-9a-f]{16}\)"):
        load_adapter(tiny_transformer(1), path)              # other weights
    with pytest.raises(DataError, match="trained on base"):
        load_adapter(tiny_transformer(0, d_model=16), path)  # other shapes
    with pytest.raises(DataError, match="trained on base PhaseNetLight"):
        load_adapter(tiny_transformer(0), save_adapter(apply(tiny_light(), cfg), tmp_path / "b.safetensors",
                                                       base_hash(tiny_light(), cfg), cfg))


def test_loading_with_another_head_shape_names_the_tensor(tmp_path):
    cfg = small_cfg("ia3")
    model = tiny_transformer(0)
    path = save_adapter(apply(model, cfg), tmp_path / "a.safetensors", base_hash(model, cfg), cfg)
    other = tiny_transformer(0)
    other.head = MagnitudeHead(8)                      # same body (same hash), 1 output instead of 2
    with pytest.raises(DataError, match=r"head\.proj\.weight: \(2, 8\) in the adapter, \(1, 8\) in the base"):
        load_adapter(other, path)


def test_base_hash_ignores_a_frozen_adaptation_and_sees_weights():
    cfg = small_cfg("lora")
    model = tiny_transformer(0)
    h = base_hash(model, cfg)
    assert base_hash(apply(model, cfg), cfg) == h
    assert base_hash(tiny_transformer(1), cfg) != h
    assert base_hash(tiny_transformer(0, head_seed=3), cfg) == h          # head excluded when trained
    assert base_hash(tiny_transformer(0, head_seed=3)) != base_hash(tiny_transformer(0))


def test_frozen_batchnorm_statistics_stay_fixed_in_train_mode():
    model = apply(tiny_light(), small_cfg("lora"))
    bn = model.bnd1
    mean = bn.running_mean.clone()
    model.train()
    model(inputs("conv"))
    assert torch.equal(bn.running_mean, mean) and int(bn.num_batches_tracked) == 0


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"method": "lorra"}, "full, linear_probe, partial, lora, dora, bitfit, ia3, adapter, prompt"),
    ({"method": "lora", "rank": 0}, "rank"), ({"method": "lora", "alpha": -1}, "alpha"),
    ({"method": "lora", "dropout": 1.5}, "dropout"), ({"method": "partial", "top_k": 0}, "top_k"),
    ({"method": "adapter", "bottleneck": 2.5}, "bottleneck"), ({"method": "prompt", "n_prompts": -3}, "n_prompts"),
    ({"method": "lora", "target_modules": []}, "target_modules"),
    ({"method": "lora", "train_head": "yes"}, "train_head"),
])
def test_config_validation_names_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        AdaptConfig(**kwargs)


def test_apply_errors_are_clear():
    with pytest.raises(ConfigError, match="token"):
        apply(tiny_light(), small_cfg("prompt"))
    with pytest.raises(ConfigError, match="top_k=9 but the model has 2 blocks"):
        apply(tiny_transformer(), small_cfg("partial", top_k=9))
    with pytest.raises(ConfigError, match="'nope' matches no Linear/Conv layer"):
        apply(tiny_transformer(), small_cfg("lora", target_modules=["nope"]))
    with pytest.raises(ConfigError, match="leaves nothing to train"):
        apply(tiny_transformer(), small_cfg("linear_probe", train_head=False))
    model = apply(tiny_transformer(), small_cfg("bitfit"))
    with pytest.raises(ConfigError, match="already adapted"):
        apply(model, small_cfg("lora"))


def test_save_adapter_rejects_a_hash_of_another_scope(tmp_path):
    cfg = small_cfg("lora")
    model = tiny_transformer(0)
    with_head = base_hash(model)                       # head included: not what load_adapter will compute
    apply(model, cfg)
    with pytest.raises(ConfigError, match="base_hash"):
        save_adapter(model, tmp_path / "a.safetensors", with_head, cfg)
