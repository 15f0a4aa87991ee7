"""Typed pretraining configuration (loaded with :mod:`seisforge.config`, ``--set`` overrides).

The optimiser and run-location sections are the training loop's own (:class:`OptimConfig`,
:class:`RunConfig`), so a pretrain config reads like a train config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seisforge.errors import ConfigError
from seisforge.train.config import OptimConfig, RunConfig

DATA_KINDS = ("seisbench", "manifest", "continuous", "synthetic")
ENCODER_KINDS = ("patch_transformer", "phasenet")
OBJECTIVES = ("mae", "contrastive")
PRIORS = ("none", "l2_to_init", "smoothness")
QC_REASONS = ("nonfinite", "flat", "clipped", "zero_gap")


@dataclass
class SdsConfig:
    """An SDS archive: root, ``NET.STA[.LOC]`` list, time span (``end`` exclusive) and channel pattern."""

    root: str | None = None
    stations: list[str] = field(default_factory=list)
    start: str | None = None
    end: str | None = None
    channel: str = "*"


@dataclass
class SyntheticConfig:
    """Synthetic windows made on the fly: coloured noise with events in ``event_prob`` of them."""

    event_prob: float = 0.7
    snr: tuple[float, float] = (2.0, 30.0)


@dataclass
class PretrainDataConfig:
    """Where unlabelled windows come from and how they look (see ``docs/foundation.md``).

    ``kind``: ``seisbench`` (``datasets``: folders or SeisBench names), ``manifest`` (a manifest Parquet),
    ``continuous`` (``paths``: miniSEED/SAC files or folders, or ``sds``), ``synthetic``.
    ``components``: channel letters in input order (``ZNEH`` for ocean-bottom with hydrophone).
    ``sampling_rate``: Hz (data at other rates are resampled); ``window_samples``: samples per window.
    ``windows_per_epoch`` / ``dev_windows``: random windows drawn per epoch / in the fixed dev set.
    ``dev_fraction``: the share of each continuous segment (its end) or of the traces (by key hash) held out
    for dev when no ``dev`` split exists. ``windows_per_unit``: windows drawn from one loaded station-day
    before the next (keeps archive reads sequential). ``qc_skip``: QC reasons that skip a window.
    """

    kind: str = "synthetic"
    datasets: list[str] = field(default_factory=list)
    manifest: str | None = None
    paths: list[str] = field(default_factory=list)
    sds: SdsConfig = field(default_factory=SdsConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    train_split: str = "train"
    dev_split: str = "dev"
    components: str = "ZNE"
    sampling_rate: float = 100.0
    window_samples: int = 3000
    windows_per_epoch: int = 512
    dev_windows: int = 64
    dev_fraction: float = 0.1
    windows_per_unit: int = 64
    max_tries: int = 8
    qc_skip: list[str] = field(default_factory=lambda: list(QC_REASONS))
    clip_min_run: int = 3
    gap_min_samples: int = 100
    noise_pool: str | None = None
    cache: str | None = "full"


@dataclass
class EncoderConfig:
    """The encoder: ``patch_transformer`` (``args``: its constructor sizes) or ``phasenet`` (the encoder
    half of ``init``, a ``seisbench:PhaseNet``/``seisbench:PhaseNetLight`` spec, with optional
    ``weights``; ``args`` go to the SeisBench constructor when no weights are given)."""

    kind: str = "patch_transformer"
    args: dict[str, Any] = field(default_factory=lambda: {"patch_samples": 50, "d_model": 64, "depth": 2,
                                                          "n_heads": 4, "mlp_ratio": 2.0})
    init: str | None = None
    weights: str | None = None


@dataclass
class PriorConfig:
    """Optional prior term: ``l2_to_init`` (squared distance of the encoder weights to their start) or
    ``smoothness`` (mean squared difference of adjacent encoder features along time)."""

    kind: str = "none"
    weight: float = 0.0


@dataclass
class ObjectiveConfig:
    """``mae``: masked reconstruction; ``contrastive``: InfoNCE between two augmented views.

    MAE: ``mask_ratio`` of the patches (transformer) or of ``mask_span``-sample spans (conv encoder) are
    masked; targets are normalised per patch (``target_norm``: ``patch``, ``patch_channel`` or ``none``).
    Contrastive: ``temperature``, ``proj_dim``; views differ by ``max_shift`` samples of time shift,
    amplitude scale in ``scale_range`` (log-uniform, per channel), additive noise at ``noise_snr`` (ratio of
    signal to noise std; noise from ``data.noise_pool`` when set, else Gaussian) and dropping one channel
    with probability ``channel_dropout``.
    """

    kind: str = "mae"
    mask_ratio: float = 0.5
    mask_span: int = 50
    target_norm: str = "patch"
    decoder_hidden: int = 32
    temperature: float = 0.1
    proj_dim: int = 64
    max_shift: int = 100
    scale_range: tuple[float, float] = (0.5, 2.0)
    noise_snr: tuple[float, float] = (2.0, 20.0)
    channel_dropout: float = 0.2
    prior: PriorConfig = field(default_factory=PriorConfig)


@dataclass
class PretrainLoopConfig:
    """Epochs and batches; ``stop_after_steps`` ends a session early with a checkpoint (resume later)."""

    epochs: int = 2
    batch_size: int = 32
    num_workers: int = 0
    stop_after_steps: int | None = None


@dataclass
class PretrainConfig:
    """The whole pretraining config."""

    name: str = "pretrain"
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    data: PretrainDataConfig = field(default_factory=PretrainDataConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: PretrainLoopConfig = field(default_factory=PretrainLoopConfig)
    run: RunConfig = field(default_factory=lambda: RunConfig(root="runs"))


def validate(cfg: PretrainConfig) -> None:
    """Raise :class:`ConfigError` naming the first inconsistent setting."""
    d, o = cfg.data, cfg.objective
    checks = [
        (d.kind in DATA_KINDS, f"data.kind must be one of {DATA_KINDS}, got {d.kind!r}"),
        (cfg.encoder.kind in ENCODER_KINDS, f"encoder.kind must be one of {ENCODER_KINDS}, got {cfg.encoder.kind!r}"),
        (o.kind in OBJECTIVES, f"objective.kind must be one of {OBJECTIVES}, got {o.kind!r}"),
        (o.prior.kind in PRIORS, f"objective.prior.kind must be one of {PRIORS}, got {o.prior.kind!r}"),
        (bool(d.components) and len(set(d.components)) == len(d.components),
         f"data.components must be distinct letters such as ZNE or ZNEH, got {d.components!r}"),
        (d.sampling_rate > 0 and d.window_samples > 1, "data.sampling_rate and data.window_samples must be > 0"),
        (d.windows_per_epoch >= cfg.train.batch_size > 0,
         "data.windows_per_epoch must be at least train.batch_size (> 0)"),
        (d.dev_windows > 0 and 0 < d.dev_fraction < 1, "data.dev_windows > 0 and 0 < data.dev_fraction < 1"),
        (set(d.qc_skip) <= set(QC_REASONS), f"data.qc_skip: known reasons are {QC_REASONS}"),
        (0 < o.mask_ratio < 1, f"objective.mask_ratio must be in (0, 1), got {o.mask_ratio}"),
        (o.target_norm in ("patch", "patch_channel", "none"), "objective.target_norm: patch, patch_channel or none"),
        (o.temperature > 0 and o.max_shift >= 0, "objective.temperature > 0 and objective.max_shift >= 0"),
        (cfg.optim.schedule in ("cosine", "constant"), "optim.schedule must be cosine or constant"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    if cfg.encoder.kind == "phasenet" and cfg.encoder.init is None:
        raise ConfigError("encoder.kind phasenet needs encoder.init: seisbench:PhaseNet or seisbench:PhaseNetLight")
