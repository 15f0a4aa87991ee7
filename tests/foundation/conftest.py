"""Fixtures of the adaptation-run tests: a small synthetic dataset, a pretrain-shaped run, adapt runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from adapt_helpers import adapt_config, run_adapt

#: the tiny transformer the pretrain fixture holds (100-sample patches of a 3001-sample window)
PRETRAIN_ARGS = {"patch_samples": 100, "d_model": 16, "depth": 2, "n_heads": 2, "mlp_ratio": 2.0}


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> Path:
    """A small ``seisforge data synth``-style dataset (24 events, 8 noise traces, 40 s traces)."""
    from seisforge.data.synthetic import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("adapt") / "data"
    synthesize(SynthConfig(events=24, noise_traces=8, seed=1, duration_s=40.0), out)
    return out


@pytest.fixture(scope="session")
def pretrain_run(tmp_path_factory) -> Path:
    """A pretrain-shaped run directory with a random encoder (the pretrain contract; no pretraining)."""
    from seisforge.testing import write_random_pretrain_run

    return write_random_pretrain_run(tmp_path_factory.mktemp("pre") / "pre", PRETRAIN_ARGS, seed=3)


@pytest.fixture(scope="session")
def lora_run(tmp_path_factory, synth_data, pretrain_run) -> Path:
    """A LoRA adaptation of the pretrain fixture on the synthetic data."""
    tmp = tmp_path_factory.mktemp("lora")
    return run_adapt(adapt_config(tmp, synth_data, f"pretrain:{pretrain_run}"))


@pytest.fixture(scope="session")
def ethz_weights(shared) -> str:
    """The shared PhaseNetLight ETHZ weight pair (skips when absent)."""
    prefix = shared / "models" / "phasenetlight_ethz" / "ethz"
    if not prefix.with_name("ethz.json.v2").is_file():
        pytest.skip(f"PhaseNetLight weights not found under {prefix.parent}")
    return str(prefix)


@pytest.fixture(scope="session")
def ethz_lora_run(tmp_path_factory, synth_data, ethz_weights) -> Path:
    """PhaseNetLight ETHZ adapted with LoRA (a few small steps, so it still picks)."""
    tmp = tmp_path_factory.mktemp("ethz")
    return run_adapt(adapt_config(tmp, synth_data, "seisbench:PhaseNetLight", weights=ethz_weights,
                                  optim={"lr": 1e-4}))
