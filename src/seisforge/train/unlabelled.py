"""Unlabelled SeisBench datasets cut from continuous data (``seisforge data windows``).

Distillation with teacher soft targets only (``--kd-alpha 1``) needs no labels, and what a student must
reproduce is the teacher on the input ``seisforge pick`` gives it: windows at arbitrary offsets of a
continuous station-day, with arrivals anywhere in them, at window edges too, several events in one window
and long stretches of noise between them. Event-centred dataset traces are not that distribution.

This module reads continuous station-days the way pretraining does
(:class:`seisforge.train.pretrain.windows.ContinuousSource`: miniSEED/SAC files, folders or an SDS
archive, unused channels set aside, gaps as NaN, resampled to ``sampling_rate``), tiles each station-day
from a seeded random offset into consecutive chunks of ``window_samples`` and writes them as a SeisBench
dataset (``metadata.csv`` + ``waveforms.hdf5``) whose pick columns are empty. The training loop then cuts
its model window from each chunk at a random position every epoch (``RandomWindow``), so with chunks
longer than the model window the offsets are arbitrary. Chunks that fail the pretraining QC (NaN from
gaps, flat or clipped components, zero runs) are skipped and counted. The last ``dev_fraction`` of each
station-day goes to the ``dev`` split, the rest to ``train``. Each chunk's ``trace_unit_offset_samples``
is its first sample's index in the station-day's data (counted from its first sample).

The windows are collected in memory before they are written (``seisforge.data.sources.write_dataset``
takes the whole metadata frame): about 72 kB per 6000-sample window, 0.4 GB for 96 station-hours.

The format is an ordinary SeisBench dataset (see ``docs/formats.md``), used through ``--dataset`` or
``--set data.datasets=[...]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.data.sources import write_dataset
from seisforge.errors import ConfigError, DataError
from seisforge.runinfo import RunReport
from seisforge.train.pretrain.config import PretrainDataConfig
from seisforge.train.pretrain.windows import ContinuousSource, qc_reason

#: pick columns written empty, so the training loop finds its label columns (all NaN: no labels)
EMPTY_PICK_COLUMNS = ("trace_p_arrival_sample", "trace_s_arrival_sample")


def write_windows(paths: list[str], out: str | Path, window_samples: int = 6000, sampling_rate: float = 100.0,
                  dev_fraction: float = 0.0, seed: int = 0) -> RunReport:
    """Tile the continuous station-days of ``paths`` into an unlabelled SeisBench dataset at ``out``.

    Parameters
    ----------
    paths
        miniSEED/SAC files or folders (as ``seisforge pick`` takes them); components Z, N, E (1, 2 read as
        N, E).
    out
        New dataset folder.
    window_samples
        Samples per chunk (at least the model window; longer chunks give the training loop room to
        draw the window at arbitrary offsets).
    sampling_rate
        Hz; data at other rates are resampled.
    dev_fraction
        Share at the end of each station-day written as the ``dev`` split.
    seed
        Seeds each station-day's random tiling offset.

    Returns
    -------
    RunReport
        ``processed`` chunks written, ``skipped`` by QC reason, and per-split counts in ``notes``.
    """
    out = Path(out)
    if window_samples < 2:
        raise ConfigError(f"--window-samples must be at least 2, got {window_samples}")
    if not 0 <= dev_fraction < 1:
        raise ConfigError(f"--dev-fraction must be in [0, 1), got {dev_fraction}")
    if out.exists() and any(out.iterdir()):
        raise DataError(f"--out {out} exists and is not empty")
    cfg = PretrainDataConfig(kind="continuous", paths=list(paths), components="ZNE", sampling_rate=sampling_rate,
                             window_samples=window_samples, dev_fraction=dev_fraction)
    source = ContinuousSource(cfg)
    report = source.report
    report.command = "data windows"
    rows, waves = [], []
    for unit in range(source.n_units):
        arr = source.unit_array(unit)
        key = source.units[unit].key
        if isinstance(arr, str):
            report.skip(arr, key)
            continue
        for row, wave in _unit_chunks(arr, source.units[unit], cfg, np.random.default_rng([seed, unit]), report):
            rows.append(row)
            waves.append(wave)
    if not rows:
        raise DataError(f"no window passed QC in {list(paths)} (skipped: {dict(report.skipped)})")
    out.mkdir(parents=True, exist_ok=True)
    meta = pd.DataFrame(rows)
    write_dataset(out, meta, waves)
    report.processed = len(rows)
    report.notes.update({"window_samples": window_samples, "sampling_rate": sampling_rate, "seed": seed,
                         "station_days": source.n_units, "traces_per_split": meta["split"].value_counts().to_dict(),
                         "labels": "none (pick columns empty)"})
    report.write(out)
    return report


def _unit_chunks(arr: np.ndarray, unit, cfg: PretrainDataConfig, rng: np.random.Generator, report: RunReport):
    """``(metadata row, (3, window_samples) float32)`` of each QC-passed chunk of one station-day."""
    n, length = arr.shape[-1], cfg.window_samples
    cut = int(n * (1 - cfg.dev_fraction))
    net, sta, loc = (unit.station.split(".") + ["", ""])[:3]
    for split, lo, hi in (("train", 0, cut), ("dev", cut, n)):
        if hi - lo < length:
            continue
        first = lo + int(rng.integers(min(length, hi - lo - length + 1)))
        for k, start in enumerate(range(first, hi - length + 1, length)):
            w = arr[:, start:start + length]
            name = f"{unit.key}_{split}_{k:05d}"
            reason = qc_reason(w, cfg)
            if reason is not None:
                report.skip(reason, name)
                continue
            row = {"trace_name": name, "trace_category": "continuous", "station_network_code": net,
                   "station_code": sta, "station_location_code": loc, "trace_sampling_rate_hz": cfg.sampling_rate,
                   "trace_unit_offset_samples": start, "split": split,
                   **{c: np.nan for c in EMPTY_PICK_COLUMNS}}
            yield row, np.ascontiguousarray(w, dtype=np.float32)
