"""Typed training configuration (loaded with :mod:`seisforge.config`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class ModelConfig:
    """Which picker and which initial weights.

    ``cls``: a model spec (:mod:`seisforge.models.registry`) of a SeisBench class, ``PhaseNet`` or
    ``seisbench:PhaseNet``, or ``run:DIR`` (the same as ``run: DIR``). ``weights``: a SeisBench weight
    pair; ``pretrained``: a SeisBench hub name (network or cache); ``run``: a previous seisforge run
    directory; none of them: random initialisation with ``kwargs``
    (:func:`seisforge.train.student.build_picker`).
    """

    cls: str = "PhaseNet"
    weights: str | None = None
    pretrained: str | None = None
    run: str | None = None
    kwargs: dict = field(default_factory=dict)


@dataclass
class DataConfig:
    """Training data: one dataset (``path``) or several (``datasets``), using their ``split`` column.

    ``manifest``: a manifest Parquet (from ``seisforge data manifest``); its ``split`` column then
    decides, and ``bench``: a benchmark targets dir or manifest that training data must not overlap.
    """

    path: str | None = None
    datasets: list[str] = field(default_factory=list)
    manifest: str | None = None
    bench: str | None = None
    bench_dataset: str | None = None
    allow_bench_overlap: bool = False
    train_split: str = "train"
    dev_split: str = "dev"
    max_bad_fraction: float = 0.001
    cache: str | None = "full"


@dataclass
class LabelConfig:
    """Gaussian labels (SeisBench ``ProbabilisticLabeller``); ``sigma`` in samples."""

    sigma: float = 10.0
    shape: str = "gaussian"


@dataclass
class AugmentConfig:
    """Augmentations; each is explicit. Probabilities are per sample."""

    pick_window_prob: float = 0.8
    amplitude_jitter_prob: float = 0.0
    amplitude_jitter_range: tuple[float, float] = (0.5, 2.0)
    polarity_flip_prob: float = 0.0
    noise_prob: float = 0.0
    noise_scale: tuple[float, float] = (0.0, 0.5)
    noise_pool: str | None = None
    channel_dropout_prob: float = 0.0
    time_shift_prob: float = 0.0
    time_shift_max: int = 200


@dataclass
class KDConfig:
    """Distillation from a frozen teacher.

    ``l2_weight``, ``slope_weight``, ``slope_lag``, ``argmax_weight``, ``argmax_beta``: the optional
    peak-position terms added to the KD term (:func:`seisforge.train.losses.peak_term`; weights 0: off).
    ``top_weight``, ``top_lags``: the error's shape on the teacher's peak tops
    (:func:`seisforge.train.losses.top_term`; weight 0: off).
    """

    teacher: str | None = None
    teacher_weights: str | None = None
    alpha: float = 0.3
    temperature: float = 4.0
    l2_weight: float = 0.0
    slope_weight: float = 0.0
    slope_lag: int = 10
    argmax_weight: float = 0.0
    argmax_beta: float = 50.0
    top_weight: float = 0.0
    top_lags: tuple[int, ...] = (1, 4, 16)


@dataclass
class LossConfig:
    """Data loss and optional distillation."""

    kind: str = "soft_ce"
    gamma: float = 2.0
    class_weights: list[float] | None = None
    kd: KDConfig = field(default_factory=KDConfig)


@dataclass
class OptimConfig:
    """AdamW, schedule and clipping."""

    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_steps: int = 0
    grad_clip: float = 1.0


@dataclass
class TrainLoopConfig:
    """Epochs, batches and early stopping (on dev only).

    ``min_samples_per_epoch``: an epoch draws at least this many samples (repeating a small train set in
    fresh seeded orders), so label-fraction runs get the same number of steps per epoch.
    ``bn_stats``: ``batch`` (BatchNorm layers normalise with each batch's statistics while training and
    update their running ones, PyTorch's default) or ``frozen`` (they normalise with their stored running
    statistics and never update them, so the function trained is the one ``pick`` runs; for students
    that start from trained weights, where the train/eval difference of the norms is an error of its own).
    """

    epochs: int = 10
    batch_size: int = 32
    num_workers: int = 0
    steps_per_epoch: int | None = None
    min_samples_per_epoch: int | None = None
    early_stopping_metric: str = "dev_loss"
    patience: int = 5
    stop_after_steps: int | None = None
    bn_stats: Literal["batch", "frozen"] = "batch"


@dataclass
class RunConfig:
    """Where the run directory goes."""

    root: str = "runs"
    name: str | None = None


@dataclass
class TrainConfig:
    """The whole training config."""

    name: str = "train"
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    precision: str = "fp32"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)
    run: RunConfig = field(default_factory=RunConfig)
