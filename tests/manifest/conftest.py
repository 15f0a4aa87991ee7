"""Fixtures for the manifest tests: seeded synthetic datasets (chunked, with repeated trace names)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from seisforge.data.synthetic import SynthConfig, synthesize

SEEDED = dict(second_event_prob=0.35, label_second_events=False, second_event_min_rel_amp=0.5,
              noise_event_prob=0.35, snr_db_range=(5.0, 30.0))


def write_chunked(out: Path, configs: list[SynthConfig]) -> Path:
    """A chunked SeisBench dataset, one synthetic dataset per chunk (the writer's bucket names repeat)."""
    out.mkdir(parents=True)
    for k, cfg in enumerate(configs):
        tmp = out.parent / f"_{out.name}_chunk{k}"
        synthesize(cfg, tmp)
        shutil.move(tmp / "metadata.csv", out / f"metadata{k}.csv")
        shutil.move(tmp / "waveforms.hdf5", out / f"waveforms{k}.hdf5")
        shutil.rmtree(tmp)
    (out / "chunks").write_text("\n".join(str(k) for k in range(len(configs))) + "\n")
    return out


@pytest.fixture(scope="session")
def seeded_chunked(tmp_path_factory) -> Path:
    """Two chunks of synthetic data with seeded unlabelled multiplets and noise traces holding events."""
    root = tmp_path_factory.mktemp("seeded")
    return write_chunked(root / "seeded", [
        SynthConfig(events=24, noise_traces=20, seed=11, **SEEDED),
        SynthConfig(events=24, noise_traces=20, seed=12, **SEEDED),
    ])


@pytest.fixture(scope="session")
def phasenet_weights(shared) -> Path:
    """PhaseNetLight ETHZ weights from the shared folder."""
    path = shared / "models/phasenetlight_ethz/ethz"
    if not Path(str(path) + ".json.v2").is_file():
        pytest.skip(f"PhaseNetLight weights not found at {path}")
    return path
