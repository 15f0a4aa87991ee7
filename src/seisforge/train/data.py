"""Training data: SeisBench datasets filtered to train/dev, seeded generators and loaders.

- Only the configured train and dev splits are selected; the test split is never loaded.
- Every sample's augmentation randomness is seeded from (seed, epoch, sample index), so results do
  not depend on worker scheduling, and a resumed run sees exactly the same samples.
- A trace that fails to load (exception or non-finite samples) is **not** swallowed: the sample is
  marked invalid, excluded from the loss, counted and logged with its key by the training loop, and
  the run stops when more than ``max_bad_fraction`` of the traces failed.
"""

from __future__ import annotations

import hashlib
import logging
import random
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seisforge.data.sources import open_dataset, phase_columns, trace_keys
from seisforge.errors import ConfigError, DataError
from seisforge.seisbench_compat import set_metadata_column
from seisforge.train.augment import AmplitudeJitter, PolarityFlip, TimeShift
from seisforge.train.config import AugmentConfig, DataConfig, LabelConfig

log = logging.getLogger(__name__)


def sample_seed(seed: int, epoch: int, idx: int) -> int:
    """A 32-bit seed from (seed, epoch, sample index)."""
    h = hashlib.blake2b(f"{seed}:{epoch}:{idx}".encode(), digest_size=4).digest()
    return int.from_bytes(h, "little")


def dataset_paths(cfg: DataConfig) -> list[str]:
    """The dataset specs of a data config, checked up front (fail fast with a clear message)."""
    paths = ([cfg.path] if cfg.path else []) + list(cfg.datasets)
    if not paths and not cfg.manifest:
        raise ConfigError("data: give data.path, data.datasets or data.manifest")
    for p in paths:
        if ("/" in p or p.startswith(".")) and not Path(p).exists():
            raise DataError(f"data: dataset not found: {p}")
    return paths


class SplitData:
    """The train or dev part of one or more datasets, addressed by a flat index.

    Without a manifest the datasets' own ``split`` column decides; with a manifest (from
    ``seisforge data manifest``) its rows decide, keyed by (dataset, chunk, trace_name), and its
    ``weight`` column becomes per-sample sampling weights.
    """

    def __init__(self, datasets: list, split: str, manifest=None):
        self.parts = []
        weights = []
        for ds in datasets:
            meta = ds.metadata
            if manifest is not None:
                rows = manifest[manifest["split"] == split]
                w = pd.Series(rows["weight"].to_numpy(dtype=float),
                              index=rows["dataset"].astype(str) + "|" + rows["chunk"].astype(str) + "|"
                              + rows["trace_name"].astype(str))
                keys = trace_keys(meta)
                mask = keys.isin(w.index).to_numpy()
                if mask.any():
                    weights.append(w.loc[keys[mask]].to_numpy())
            else:
                if "split" not in meta.columns:
                    raise DataError(f"dataset {meta['trace_dataset'].iloc[0]} has no 'split' column")
                mask = (meta["split"] == split).to_numpy()
                if mask.any():
                    weights.append(np.ones(int(mask.sum())))
            if mask.any():
                self.parts.append(ds.filter(mask, inplace=False))
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])
        self.keys = np.concatenate([trace_keys(p.metadata).to_numpy() for p in self.parts]) if self.parts else np.array([])
        self.weights = np.concatenate(weights) if weights else np.array([])
        self.events = np.concatenate([
            p.metadata["source_id"].fillna("").astype(str).to_numpy() if "source_id" in p.metadata
            else np.full(len(p), "") for p in self.parts]) if self.parts else np.array([])
        if manifest is not None:
            n_rows = int((manifest["split"] == split).sum())
            if n_rows != len(self):
                raise DataError(f"manifest lists {n_rows} {split} traces but only {len(self)} were found in "
                                "its datasets (renamed or missing traces)")

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def select(self, mask: np.ndarray) -> SplitData:
        """A new SplitData holding the traces where the boolean ``mask`` (one entry per trace) is True."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self),):
            raise ValueError(f"mask of shape {mask.shape} for {len(self)} traces")
        out = object.__new__(SplitData)
        out.parts = [p.filter(mask[lo:hi], inplace=False) for p, lo, hi
                     in zip(self.parts, self.offsets[:-1], self.offsets[1:]) if mask[lo:hi].any()]
        out.offsets = np.cumsum([0] + [len(p) for p in out.parts])
        out.keys, out.weights, out.events = self.keys[mask], self.weights[mask], self.events[mask]
        return out

    def locate(self, idx: int):
        k = int(np.searchsorted(self.offsets, idx, side="right") - 1)
        return self.parts[k], idx - int(self.offsets[k])

    def noise_dataset(self):
        """Traces without any labelled arrival (for additive-noise augmentation), or None."""
        for p in self.parts:
            cols = list(phase_columns(p.metadata))
            mask = p.metadata[cols].isna().all(axis=1).to_numpy() if cols else np.ones(len(p), bool)
            if mask.any():
                return p.filter(mask, inplace=False)
        return None


def open_training_datasets(cfg: DataConfig, sampling_rate: float, component_order: str):
    """Open every configured dataset at the model's rate and component order.

    Returns ``(datasets, manifest)``; the manifest frame is None unless ``data.manifest`` is set, in
    which case the datasets are the ones recorded in the manifest's provenance (renamed to the
    manifest's dataset names).
    """
    if cfg.manifest:
        from seisforge.data.manifest_io import read_manifest

        manifest, prov = read_manifest(cfg.manifest, with_provenance=True)
        sources = prov.get("datasets") or {}
        missing = sorted(set(manifest["dataset"].astype(str)) - set(sources))
        if missing:
            raise DataError(f"{cfg.manifest}: provenance lacks the source of dataset(s) {missing}")
        datasets = []
        for name in sorted(set(manifest["dataset"].astype(str))):
            ds = open_dataset(sources[name], sampling_rate=sampling_rate, component_order=component_order,
                              cache=cfg.cache)
            set_metadata_column(ds, "trace_dataset", name)
            datasets.append(ds)
        return datasets, manifest
    return [open_dataset(p, sampling_rate=sampling_rate, component_order=component_order, cache=cfg.cache)
            for p in dataset_paths(cfg)], None


def build_augmentations(model, aug: AugmentConfig, labels: LabelConfig, label_columns: dict,
                        noise_ds=None, train: bool = True, target=None) -> list:
    """The SeisBench augmentation pipeline for a picker (train: random; dev: placement only).

    ``target``: an augmentation that sets ``state["y"]`` for a window-level task (detection, magnitude),
    in place of the Gaussian phase labeller.
    """
    import seisbench.generate as sbg

    n = int(model.in_samples)
    pipeline = [
        sbg.OneOf(
            [sbg.WindowAroundSample(list(label_columns), samples_before=n, windowlen=2 * n,
                                    selection="random", strategy="variable"),
             sbg.NullAugmentation()],
            probabilities=[aug.pick_window_prob, 1 - aug.pick_window_prob],
        ),
        sbg.RandomWindow(windowlen=n, strategy="pad"),
        sbg.ChangeDtype(np.float32),
    ]

    def maybe(a, p):
        return sbg.OneOf([a, sbg.NullAugmentation()], probabilities=[p, 1 - p])

    if train:
        if aug.noise_prob > 0 and aug.noise_pool:
            from seisforge.data.noise_pool import NoisePool
            from seisforge.train.augment import PoolNoise

            pool = NoisePool(aug.noise_pool, sampling_rate=model.sampling_rate,
                             component_order=model.component_order)
            if len(pool) == 0:
                raise ConfigError(f"augment.noise_pool {aug.noise_pool} holds no windows")
            pipeline.append(maybe(PoolNoise(pool, tuple(aug.noise_scale)), aug.noise_prob))
        elif aug.noise_prob > 0:
            if noise_ds is None:
                raise ConfigError("augment.noise_prob > 0 but the training data hold no noise traces; "
                                  "set augment.noise_pool to a noise pool")
            pipeline.append(maybe(sbg.RealNoise(noise_ds, scale=tuple(aug.noise_scale)), aug.noise_prob))
        if aug.amplitude_jitter_prob > 0:
            pipeline.append(maybe(AmplitudeJitter(*aug.amplitude_jitter_range), aug.amplitude_jitter_prob))
        if aug.channel_dropout_prob > 0:
            pipeline.append(maybe(sbg.ChannelDropout(), aug.channel_dropout_prob))
        if aug.polarity_flip_prob > 0:
            pipeline.append(maybe(PolarityFlip(), aug.polarity_flip_prob))
    pipeline += [
        _normalize(getattr(model, "norm", "peak")),
        target if target is not None else sbg.ProbabilisticLabeller(
            label_columns=label_columns, sigma=labels.sigma, shape=labels.shape, dim=0, model_labels=model.labels),
    ]
    if train and aug.time_shift_prob > 0:
        pipeline.append(maybe(TimeShift(aug.time_shift_max), aug.time_shift_prob))
    return pipeline


def _normalize(norm: str):
    """PhaseNet's window normalisation: demean, then per-component ``std`` or ``peak``; ``none``: demean only
    (a model that normalises inside and uses the amplitude, such as the magnitude model)."""
    import seisbench.generate as sbg

    if norm == "none":
        return sbg.Normalize(demean_axis=-1)
    return sbg.Normalize(demean_axis=-1, amp_norm_axis=-1, amp_norm_type=norm)


class SeededGenerator(torch.utils.data.Dataset):
    """Applies SeisBench augmentations to samples of a :class:`SplitData`, seeded per sample.

    Items are dicts with ``X``, ``y``, ``valid`` (0 for a trace that failed) and ``idx``. ``y`` has shape
    ``(n_classes, in_samples)`` (picking labels), or ``y_shape`` when given (a window-level target).
    """

    def __init__(self, data: SplitData, augmentations: list, seed: int, in_samples: int, n_channels: int,
                 n_classes: int, y_shape: tuple[int, ...] | None = None):
        self.data, self.augmentations, self.seed = data, augmentations, seed
        self.epoch = 0
        self.shape_x = (n_channels, in_samples)
        self.shape_y = tuple(y_shape) if y_shape is not None else (n_classes, in_samples)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx: int) -> dict:
        s = sample_seed(self.seed, self.epoch, idx)
        np.random.seed(s)
        random.seed(s)
        try:
            ds, local = self.data.locate(idx)
            state = {"X": ds.get_sample(local)}
            if not np.isfinite(state["X"][0]).all():
                raise DataError("non-finite samples")
            for aug in self.augmentations:
                aug(state)
            x, y = state["X"][0], state["y"][0]
            if x.shape != self.shape_x or not np.isfinite(x).all():
                raise DataError(f"bad window shape {x.shape} or non-finite values")
            return {"X": torch.as_tensor(x), "y": torch.as_tensor(y, dtype=torch.float32),
                    "valid": torch.tensor(1), "idx": torch.tensor(idx)}
        except Exception as err:  # counted and logged by the loop, never swallowed
            log.debug("sample %d failed: %s", idx, err)
            return {"X": torch.zeros(self.shape_x), "y": torch.zeros(self.shape_y),
                    "valid": torch.tensor(0), "idx": torch.tensor(idx)}


class OffsetSampler(torch.utils.data.Sampler):
    """A seeded permutation per epoch that can start part-way (for exact resumption).

    ``length`` (default ``n``) samples make an epoch: more than ``n`` concatenates further seeded
    permutations, so a small train set (a label fraction) gets as many steps per epoch as a large one.
    """

    def __init__(self, n: int, seed: int, shuffle: bool = True, rank: int = 0, world_size: int = 1,
                 weights: np.ndarray | None = None, length: int | None = None):
        self.n, self.seed, self.shuffle, self.length = n, seed, shuffle, length or n
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start = 0, 0
        uniform = weights is None or len(weights) == 0 or np.allclose(weights, weights[0])
        self.weights = None if uniform else torch.as_tensor(weights, dtype=torch.float64)

    def order(self) -> list[int]:
        """This rank's sample order for the current epoch (every rank shares one permutation).

        With non-uniform weights, ``n`` indices are drawn with replacement in proportion to them
        (oversampling by weight).
        """
        g = torch.Generator().manual_seed(self.seed + 7919 * self.epoch)
        full: list[int] = []
        while len(full) < self.length:
            if self.weights is not None:
                full += torch.multinomial(self.weights, self.n, replacement=True, generator=g).tolist()
            elif not self.shuffle:
                full += list(range(self.n))
            else:
                full += torch.randperm(self.n, generator=g).tolist()
        return full[:self.length][self.rank::self.world_size]

    def __iter__(self):
        return iter(self.order()[self.start:])

    def __len__(self) -> int:
        return max(len(self.order()) - self.start, 0)
