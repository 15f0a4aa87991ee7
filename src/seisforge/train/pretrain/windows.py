"""Unlabelled window sources for pretraining, data QC on every window, and the seeded window dataset.

A source holds *units* (a continuous station-day, a dataset trace, or one synthetic generator) and draws
one raw window ``(C, length)`` from a unit with a given ``numpy`` generator, or returns a reason why it
cannot (``missing_component``, ``too_short``, ``no_data``). :class:`WindowDataset` seeds the generator of
sample ``i`` of epoch ``e`` from ``(seed, e, i)`` (:func:`seisforge.train.data.sample_seed`), so windows
do not depend on worker scheduling and a resumed run draws exactly the same windows.

QC (:func:`qc_reason`, on :func:`seisforge.data.quality.waveform_flags`) runs on every raw window: NaN/inf
samples (``nonfinite``), a dead or constant component (``flat``), a plateau at full scale (``clipped``) and
a long run of exact zeros (``zero_gap``). A failing window is counted under its reason and another window
is drawn from the same unit (up to ``max_tries``); nothing is ever zero-filled. Gaps in continuous data are
NaN, so windows across them fail as ``nonfinite``.

Windows are normalised as PhaseNet normalises them (demean, then divide each component by its standard
deviation), the same rule as :class:`~seisforge.models.encoders.EncoderPicker` at inference.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from seisforge.data import quality
from seisforge.data.continuous import preprocess
from seisforge.data.continuous.sources import StationDay, archive_units, index_files, load_unit
from seisforge.errors import ConfigError, DataError
from seisforge.runinfo import RunReport, sha256_file, sha256_lines
from seisforge.train.data import sample_seed
from seisforge.train.pretrain.config import QC_REASONS, PretrainDataConfig

#: reasons a draw fails before QC; the unit is given up (no retry)
UNIT_REASONS = ("missing_component", "too_short", "no_data")
REASONS = (*QC_REASONS, *UNIT_REASONS)
_QC_MAP = {"nonfinite": "nonfinite", "dead_component": "flat", "flat_component": "flat", "clipped": "clipped",
           "zero_gap": "zero_gap"}
_ZNE_ROW = {"Z": 0, "N": 1, "E": 2, "1": 1, "2": 2}


def normalise(w: np.ndarray) -> np.ndarray:
    """Demean each component and divide it by its (unbiased) standard deviation, as PhaseNet's ``std``
    normalisation does."""
    w = w - w.mean(axis=-1, keepdims=True)
    return (w / (w.std(axis=-1, ddof=1, keepdims=True) + 1e-10)).astype(np.float32)


def qc_reason(w: np.ndarray, cfg: PretrainDataConfig) -> str | None:
    """The first QC reason in ``cfg.qc_skip`` that ``w`` fails, else None."""
    flags = {_QC_MAP[f] for f in quality.waveform_flags(w, cfg.clip_min_run, cfg.gap_min_samples) if f in _QC_MAP}
    return next((r for r in QC_REASONS if r in flags and r in cfg.qc_skip), None)


class WindowSource:
    """Base class: ``n_units``, ``block`` (windows drawn per unit in a row), :meth:`draw`, provenance."""

    block = 1
    report: RunReport

    @property
    def n_units(self) -> int:
        raise NotImplementedError

    def draw(self, rng: np.random.Generator, unit: int, dev: bool, length: int) -> np.ndarray | str:
        """A raw window ``(C, length)`` of ``unit`` (dev part when ``dev``), or a reason it cannot."""
        raise NotImplementedError

    def data_lines(self) -> list[str]:
        """Lines hashed into ``data.sha256``."""
        raise NotImplementedError

    def provenance(self) -> dict:
        """What the data were, for the model card."""
        raise NotImplementedError


class SyntheticSource(WindowSource):
    """Coloured noise with a synthetic event (``seisforge data synth`` physics) in a share of the windows.

    A hydrophone (``H``) row carries the vertical's P and S signal (pressure follows the vertical motion
    at the sea floor to first order) over its own noise.
    """

    def __init__(self, cfg: PretrainDataConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self.report = RunReport("pretrain")
        unknown = [c for c in cfg.components if c not in _ZNE_ROW and c != "H"]
        if unknown:
            raise ConfigError(f"synthetic data have components Z, N, E (1, 2) and H, not {''.join(unknown)}")

    @property
    def n_units(self) -> int:
        return 1

    def draw(self, rng: np.random.Generator, unit: int, dev: bool, length: int) -> np.ndarray | str:
        from seisforge.data.synthetic import coloured_noise, event_signal

        fs = self.cfg.sampling_rate
        noise = np.concatenate([coloured_noise(rng, length, fs) for _ in range(2)])
        noise /= noise.std(axis=-1, keepdims=True)
        out = np.stack([noise[_ZNE_ROW.get(c, 3 + k % 3)] for k, c in enumerate(self.cfg.components)])
        if rng.random() < self.cfg.synthetic.event_prob:
            sig, _ = event_signal(rng, length, fs, float(rng.uniform(5, 80)), float(rng.uniform(2, 20)),
                                  float(rng.uniform(1.0, 3.5)), float(rng.uniform(0.1, 0.6) * length))
            sig *= rng.uniform(*self.cfg.synthetic.snr) / (np.abs(sig).max() + 1e-12)
            out += np.stack([sig[_ZNE_ROW.get(c, 0)] for c in self.cfg.components])
        return out.astype(np.float32)

    def data_lines(self) -> list[str]:
        return [json.dumps({"kind": "synthetic", "seed": self.seed, "components": self.cfg.components,
                            "sampling_rate": self.cfg.sampling_rate, **vars(self.cfg.synthetic)}, default=list)]

    def provenance(self) -> dict:
        return {"kind": "synthetic", "generator": "seisforge.data.synthetic (coloured noise + events)",
                "seed": self.seed, **{k: list(v) if isinstance(v, tuple) else v
                                      for k, v in vars(self.cfg.synthetic).items()}}


class TraceSource(WindowSource):
    """Random crops of SeisBench dataset traces (labels ignored), train and dev by split.

    Datasets without a ``split`` column are split by a hash of the trace key (``dev_fraction`` to dev).
    Components a dataset lacks are zero-padded by SeisBench and then fail QC as ``flat``.
    """

    def __init__(self, cfg: PretrainDataConfig):
        from seisforge.train.config import DataConfig
        from seisforge.train.data import SplitData, open_training_datasets

        self.cfg = cfg
        self.report = RunReport("pretrain")
        dcfg = DataConfig(datasets=list(cfg.datasets), manifest=cfg.manifest, cache=cfg.cache)
        datasets, manifest = open_training_datasets(dcfg, cfg.sampling_rate, cfg.components)
        if manifest is None:
            for ds in datasets:
                _ensure_split(ds, cfg)
        self.splits = {False: SplitData(datasets, cfg.train_split, manifest),
                       True: SplitData(datasets, cfg.dev_split, manifest)}
        if len(self.splits[False]) == 0:
            raise DataError(f"no traces in split {cfg.train_split!r} of {cfg.manifest or cfg.datasets}")

    @property
    def n_units(self) -> int:
        return len(self.splits[False])

    def draw(self, rng: np.random.Generator, unit: int, dev: bool, length: int) -> np.ndarray | str:
        split = self.splits[dev]
        if len(split) == 0:
            return "no_data"
        part, j = split.locate(int(rng.integers(len(split))) if dev else unit % len(split))
        wave = part.get_waveforms(j)
        if wave.shape[-1] < length:
            return "too_short"
        start = int(rng.integers(wave.shape[-1] - length + 1))
        return np.asarray(wave[:, start:start + length], dtype=np.float32)

    def data_lines(self) -> list[str]:
        return sorted(f"{k}\t{name}" for dev, name in ((False, self.cfg.train_split), (True, self.cfg.dev_split))
                      for k in self.splits[dev].keys)

    def provenance(self) -> dict:
        return {"kind": self.cfg.kind, "datasets": list(self.cfg.datasets), "manifest": self.cfg.manifest,
                "n_train_traces": len(self.splits[False]), "n_dev_traces": len(self.splits[True]),
                "labels": "ignored"}


def _ensure_split(ds, cfg: PretrainDataConfig) -> None:
    """Give a dataset without a ``split`` column one: ``dev_fraction`` of the trace keys (by hash) to dev."""
    import hashlib

    from seisforge.data.sources import trace_keys
    from seisforge.seisbench_compat import set_metadata_column

    if "split" in ds.metadata.columns:
        return
    u = np.array([int.from_bytes(hashlib.blake2b(k.encode(), digest_size=4).digest(), "little") / 2**32
                  for k in trace_keys(ds.metadata)])
    set_metadata_column(ds, "split", np.where(u < cfg.dev_fraction, cfg.dev_split, cfg.train_split))


class ContinuousSource(WindowSource):
    """Random windows from station-days of miniSEED/SAC files, folders or an SDS archive.

    Units are found and loaded by :mod:`seisforge.data.continuous.sources` (as ``seisforge pick`` reads),
    cleaned by the first steps of :mod:`seisforge.data.continuous.preprocess` (unused channels set aside,
    one channel set per instrument, NaN split into gaps), resampled to ``sampling_rate``, and laid out as
    ``(C, samples)`` with NaN wherever a component has no data. The last ``dev_fraction`` of each unit is
    the dev part. The last loaded unit is kept, and ``windows_per_unit`` windows in a row come from one unit,
    so each worker reads a station-day once per block.
    """

    def __init__(self, cfg: PretrainDataConfig):
        self.cfg = cfg
        self.report = RunReport("pretrain")
        self.block = max(1, cfg.windows_per_unit)
        self._cache: tuple[int, np.ndarray | str] | None = None
        if cfg.sds.root:
            s = cfg.sds
            if not (s.stations and s.start and s.end):
                raise ConfigError("data.sds needs root, stations, start and end")
            self.units: list[StationDay] = archive_units("sds", s.root, s.stations, s.start, s.end, s.channel)
        elif cfg.paths:
            index = index_files(list(cfg.paths), pad_s=0.0)
            for reason, path, _ in index.problems:
                self.report.fail(reason, path)
            self.units = index.units
        else:
            raise ConfigError("data.kind continuous needs data.paths or data.sds.root")
        if not self.units:
            raise DataError(f"pretrain source has no readable windows: no station-days found in "
                            f"{cfg.paths or cfg.sds.root} (unreadable files: {dict(self.report.failed)})")

    @property
    def n_units(self) -> int:
        return len(self.units)

    def unit_array(self, unit: int) -> np.ndarray | str:
        """The unit's ``(C, samples)`` float32 array (NaN where no data), or ``missing_component``/``no_data``."""
        if self._cache is not None and self._cache[0] == unit:
            return self._cache[1]
        arr = _unit_array(self.units[unit], self.cfg, self.report)
        self._cache = (unit, arr)
        return arr

    def draw(self, rng: np.random.Generator, unit: int, dev: bool, length: int) -> np.ndarray | str:
        arr = self.unit_array(unit)
        if isinstance(arr, str):
            return arr
        cut = int(arr.shape[-1] * (1 - self.cfg.dev_fraction))
        lo, hi = (cut, arr.shape[-1]) if dev else (0, cut)
        if hi - lo < length:
            return "too_short"
        start = lo + int(rng.integers(hi - lo - length + 1))
        return arr[:, start:start + length]

    def data_lines(self) -> list[str]:
        if self.units[0].kind == "files":
            files = sorted({f for u in self.units for f in u.files})
            return [f"{Path(f).name}\t{sha256_file(f)}" for f in files]
        return [f"{u.kind}\t{u.station}\t{u.day}\t{u.channel}" for u in self.units]

    def provenance(self) -> dict:
        return {"kind": "continuous", "paths": list(self.cfg.paths), "sds": vars(self.cfg.sds),
                "n_station_days": len(self.units), "dev_part": f"last {self.cfg.dev_fraction:g} of each station-day"}


def _unit_array(unit: StationDay, cfg: PretrainDataConfig, report: RunReport) -> np.ndarray | str:
    """Load and lay out one station-day (see :class:`ContinuousSource`)."""
    problems: list[tuple[str, str, str]] = []
    st = load_unit(unit, 0.0, problems)
    for reason, path, _ in problems:
        report.fail(reason, path)
    st = preprocess.drop_unused_components(st, cfg.components, True, report, unit.key)
    st = preprocess.keep_one_channel_set(st, True, report, unit.key)
    st = preprocess.nonfinite_to_gaps(st, report, unit.key)
    if not len(st):
        return "no_data"
    for tr in st:
        tr.data = np.asarray(tr.data, dtype=np.float64)
        if abs(tr.stats.sampling_rate - cfg.sampling_rate) > 1e-9:
            report.handle("resampled", f"{unit.key}:{tr.id}")
            tr.resample(cfg.sampling_rate)
    st.merge(method=1)
    t0 = min(tr.stats.starttime for tr in st)
    n = int(round((max(tr.stats.endtime for tr in st) - t0) * cfg.sampling_rate)) + 1
    arr = np.full((len(cfg.components), n), np.nan, dtype=np.float32)
    seen = set()
    for tr in st:
        comp = {"1": "N", "2": "E"}.get(tr.stats.channel[-1:], tr.stats.channel[-1:])
        i0 = int(round((tr.stats.starttime - t0) * cfg.sampling_rate))
        data = np.ma.filled(np.ma.masked_invalid(tr.data), np.nan)[: n - i0]
        arr[cfg.components.index(comp), i0:i0 + len(data)] = data
        seen.add(comp)
    if set(cfg.components) - seen:
        report.skip("missing_component", f"{unit.key}:{''.join(sorted(set(cfg.components) - seen))}")
        return "missing_component"
    return arr


def open_source(cfg: PretrainDataConfig, seed: int) -> WindowSource:
    """The window source of ``data.kind``."""
    if cfg.kind == "synthetic":
        return SyntheticSource(cfg, seed)
    if cfg.kind in ("seisbench", "manifest"):
        if cfg.kind == "manifest" and not cfg.manifest:
            raise ConfigError("data.kind manifest needs data.manifest")
        if cfg.kind == "seisbench" and not cfg.datasets:
            raise ConfigError("data.kind seisbench needs data.datasets (folders or SeisBench names)")
        return TraceSource(cfg)
    return ContinuousSource(cfg)


def data_hash(source: WindowSource) -> str:
    """sha256 over the source's :meth:`~WindowSource.data_lines`."""
    return sha256_lines(source.data_lines())


class WindowDataset(torch.utils.data.Dataset):
    """``n`` QC-passed, normalised windows per epoch; contrastive mode returns two augmented views.

    Item: ``{"x": (C, T)}`` or ``{"x1", "x2"}``, ``"valid"`` (False when ``max_tries`` draws all failed)
    and ``"rejects"``: counts per :data:`REASONS` of the draws that failed (summed by the loop into
    ``run_report.json``).
    """

    def __init__(self, source: WindowSource, cfg: PretrainDataConfig, seed: int, n: int, dev: bool = False,
                 views=None):
        self.source, self.cfg, self.seed, self.n, self.dev = source, cfg, seed, n, dev
        self.views = views  # callable(window_long, rng) -> (v1, v2), or None for single windows
        self.epoch = 0
        self.extra = getattr(views, "extra_samples", 0)

    def __len__(self) -> int:
        return self.n

    def unit_of(self, i: int) -> int:
        """Unit of sample ``i``: blocks of ``source.block`` samples walk a seeded permutation of the units."""
        g = np.random.default_rng(sample_seed(self.seed, self.epoch, -1))
        perm = g.permutation(self.source.n_units)
        return int(perm[(i // self.source.block) % len(perm)])

    def __getitem__(self, i: int) -> dict:
        epoch = -1 if self.dev else self.epoch
        rng = np.random.default_rng(sample_seed(self.seed, epoch, i))
        rejects = Counter()
        unit = self.unit_of(i)
        w = None
        for _ in range(self.cfg.max_tries):
            raw = self.source.draw(rng, unit, self.dev, self.cfg.window_samples + self.extra)
            reason = raw if isinstance(raw, str) else qc_reason(raw, self.cfg)
            if reason is None:
                w = raw
                break
            rejects[reason] += 1
            if reason in UNIT_REASONS:
                break
        item = {"valid": w is not None, "rejects": torch.tensor([rejects[r] for r in REASONS]), "idx": i}
        if self.views is not None:
            shape = (len(self.cfg.components), self.cfg.window_samples)
            v1, v2 = self.views(w, rng) if w is not None else (np.zeros(shape, np.float32),) * 2
            item.update(x1=torch.from_numpy(v1), x2=torch.from_numpy(v2))
        else:
            x = normalise(w) if w is not None else np.zeros((len(self.cfg.components), self.cfg.window_samples),
                                                            np.float32)
            item["x"] = torch.from_numpy(x)
        return item


class ContrastiveViews:
    """Two views of a window of ``window_samples + max_shift`` samples (see ``ObjectiveConfig``).

    Each view: a crop at a random shift, per-component amplitude scale (log-uniform), additive noise at a
    random SNR (noise pool windows when given, else Gaussian), one component dropped with probability
    ``channel_dropout``, then the PhaseNet normalisation. With per-component normalisation, the amplitude
    scale acts through the level of the added noise on each component.
    """

    def __init__(self, ocfg, window_samples: int, noise_pool=None):
        self.o, self.n, self.pool = ocfg, window_samples, noise_pool
        self.extra_samples = int(ocfg.max_shift)

    def view(self, w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        shift = int(rng.integers(self.extra_samples + 1))
        v = normalise(w[:, shift:shift + self.n])
        lo, hi = self.o.scale_range
        v = v * np.exp(rng.uniform(np.log(lo), np.log(hi), size=(v.shape[0], 1)))
        noise = (normalise(self.pool.sample(rng, self.n)[: v.shape[0]]) if self.pool is not None
                 else rng.standard_normal(v.shape))
        if noise.shape != v.shape:  # a pool with fewer components than the data: Gaussian for the rest
            noise = np.concatenate([noise, rng.standard_normal((v.shape[0] - noise.shape[0], self.n))])
        v = v + noise / rng.uniform(*self.o.noise_snr)
        if v.shape[0] > 1 and rng.random() < self.o.channel_dropout:
            v[int(rng.integers(v.shape[0]))] = 0.0
        return normalise(v)

    def __call__(self, w: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self.view(w, rng), self.view(w, rng)

