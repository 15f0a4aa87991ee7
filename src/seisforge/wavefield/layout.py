"""Read and write the Common Task Framework (CTF) dataset layout used by ``ctf4science``.

A dataset folder ``<root>`` holds ``<name>.yaml`` plus ``train/X{i}train.<ext>`` and
``test/X{j}test.<ext>`` with ``<ext>`` one of ``npz`` (exactly one array), ``npy`` or ``mat`` (exactly one
variable besides the ``__`` header keys). Matrices are ``(time, space)``.

The yaml holds ``pairs`` (``id``, ``train`` list, ``test``, optional ``initialization``, ``metrics``),
``metadata`` (``delta_t``, ``matrix_shapes``, ``matrix_start_index``) and ``evaluation_params``
(``k_short``, ``k_long``, ``modes``; older files have one ``k`` used for both).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seisforge.config import load_yaml
from seisforge.errors import ConfigError, DataError
from seisforge.paths import resolve_under

#: (pair id, metric) -> E number, as in ``ctf4science.eval_module.pair_id_to_e``.
PAIR_METRIC_TO_E: dict[tuple[int, str], int] = {
    (1, "short_time"): 1,
    (1, "long_time"): 2,
    (2, "reconstruction"): 3,
    (3, "long_time"): 4,
    (4, "reconstruction"): 5,
    (5, "long_time"): 6,
    (6, "short_time"): 7,
    (6, "long_time"): 8,
    (7, "short_time"): 9,
    (7, "long_time"): 10,
    (8, "short_time"): 11,
    (9, "short_time"): 12,
}
METRICS = ("short_time", "long_time", "reconstruction")
RECONSTRUCTION_PAIRS = (2, 4)
DEFAULT_K = 20
DEFAULT_MODES = 100
_SUFFIXES = (".npz", ".npy", ".mat")


@dataclass(frozen=True)
class Pair:
    """One train/test pair of a CTF dataset."""

    id: int
    train: list[str]
    test: str
    metrics: list[str]
    initialization: str | None = None

    @property
    def task(self) -> str:
        """``"reconstruction"`` when the pair scores reconstruction, else ``"forecast"``."""
        return "reconstruction" if "reconstruction" in self.metrics else "forecast"


@dataclass(frozen=True)
class EvalParams:
    """Evaluation parameters: rows for the short-time score, rows and modes for the long-time score."""

    k_short: int = DEFAULT_K
    k_long: int = DEFAULT_K
    modes: int = DEFAULT_MODES


@dataclass
class CTFDataset:
    """A CTF dataset folder: its yaml and lazily loaded matrices."""

    root: Path
    name: str
    config: dict[str, Any]
    pairs: dict[int, Pair]
    params: EvalParams
    delta_t: float
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    start_index: dict[str, int] = field(default_factory=dict)

    def pair(self, pair_id: int) -> Pair:
        """Return pair ``pair_id`` or raise :class:`DataError` naming the known ids."""
        if pair_id not in self.pairs:
            raise DataError(f"unknown pair {pair_id} in dataset {self.name!r}; known: {sorted(self.pairs)}")
        return self.pairs[pair_id]

    def matrix_path(self, name: str, split: str) -> Path:
        """Path of matrix ``name`` under ``train/`` or ``test/`` (may not escape the dataset root)."""
        return resolve_under(self.root, Path(split) / name)

    def load(self, name: str, split: str) -> np.ndarray:
        """Load matrix ``name`` from ``split`` and check it against ``metadata.matrix_shapes``."""
        arr = load_matrix(self.matrix_path(name, split))
        expected = self.shapes.get(name)
        if expected is not None and tuple(arr.shape) != tuple(expected):
            raise DataError(
                f"{self.name}/{split}/{name}: shape {tuple(arr.shape)} does not match "
                f"metadata.matrix_shapes {tuple(expected)}"
            )
        return arr

    def train(self, pair_id: int) -> list[np.ndarray]:
        """Training matrices of a pair."""
        return [self.load(n, "train") for n in self.pair(pair_id).train]

    def initialization(self, pair_id: int) -> np.ndarray | None:
        """Burn-in (initialization) matrix of a pair, or None."""
        p = self.pair(pair_id)
        return None if p.initialization is None else self.load(p.initialization, "train")

    def test(self, pair_id: int) -> np.ndarray:
        """Truth matrix of a pair."""
        return self.load(self.pair(pair_id).test, "test")

    def test_shape(self, pair_id: int) -> tuple[int, ...]:
        """Shape of the truth matrix (from metadata when present, else from the file)."""
        name = self.pair(pair_id).test
        if name in self.shapes:
            return tuple(self.shapes[name])
        return tuple(self.test(pair_id).shape)

    def parse_pairs(self, spec: str | int | list[int] | None) -> list[int]:
        """Parse ``all``, ``4``, ``1-3`` or ``1,3,5`` into sorted pair ids known to this dataset."""
        return parse_pair_spec(spec, sorted(self.pairs), self.name)


def parse_pair_spec(spec: str | int | list[int] | None, available: list[int], name: str = "dataset") -> list[int]:
    """Parse a pair selection (``all``, ``4``, ``1-3``, ``1,3,5`` or a list) against ``available``."""
    if spec is None or spec == "all":
        return list(available)
    if isinstance(spec, int):
        ids = [spec]
    elif isinstance(spec, list):
        ids = [int(x) for x in spec]
    else:
        ids = []
        for part in str(spec).split(","):
            part = part.strip()
            m = re.fullmatch(r"(\d+)-(\d+)", part)
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
                if lo > hi:
                    raise ConfigError(f"invalid pair range {part!r}")
                ids.extend(range(lo, hi + 1))
            elif part.isdigit():
                ids.append(int(part))
            else:
                raise ConfigError(f"invalid pair selection {spec!r}; use all, 4, 1-3 or 1,3,5")
    unknown = [i for i in ids if i not in available]
    if unknown:
        raise DataError(f"unknown pair(s) {unknown} in {name}; known: {available}")
    return sorted(set(ids))


def load_matrix(path: str | Path) -> np.ndarray:
    """Load one CTF matrix from ``.npz``, ``.npy`` or ``.mat`` (no pickle), as float64 2-D array.

    Raises
    ------
    DataError
        Missing, truncated or corrupt file, unsupported suffix, not exactly one variable, not 2-D,
        non-numeric data, or NaN/inf values.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"matrix file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                if len(keys) != 1:
                    raise DataError(f"{path}: expected exactly one array in the .npz, found {keys}")
                arr = z[keys[0]]
        elif suffix == ".mat":
            from scipy.io import loadmat

            mat = loadmat(str(path))
            keys = [k for k in mat if not k.startswith("__")]
            if len(keys) != 1:
                raise DataError(f"{path}: expected exactly one variable in the .mat, found {keys}")
            arr = mat[keys[0]]
        else:
            raise DataError(f"{path}: unsupported matrix format {suffix!r}; use .npz, .npy or .mat")
    except DataError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError) as err:
        # a truncated .npz is a BadZipFile or EOFError, random bytes a ValueError: all one "cannot read"
        raise DataError(f"{path}: cannot read matrix ({type(err).__name__}: {err})") from err
    if arr.ndim != 2:
        raise DataError(f"{path}: expected a 2-D (time, space) matrix, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{path}: matrix dtype {arr.dtype} is not numeric")
    arr = np.asarray(arr, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():  # NaN/inf would surface later as LinAlgError or NaN scores
        t, x = np.argwhere(bad)[0]
        raise DataError(f"{path}: matrix holds {int(bad.sum())} non-finite values (NaN/inf), "
                        f"first at row {t}, column {x}")
    return arr


def save_matrix(path: str | Path, arr: np.ndarray) -> Path:
    """Write a matrix as ``.npz`` (key ``data``), ``.npy`` or ``.mat`` (variable ``data``) by suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        np.savez_compressed(path, data=arr)
    elif suffix == ".npy":
        np.save(path, arr)
    elif suffix == ".mat":
        from scipy.io import savemat

        savemat(str(path), {"data": arr})
    else:
        raise DataError(f"{path}: unsupported matrix format {suffix!r}; use .npz, .npy or .mat")
    return path


def _find_yaml(root: Path) -> Path:
    own = root / f"{root.name}.yaml"
    if own.is_file():
        return own
    cands = sorted(p for p in root.glob("*.yaml") if p.is_file())
    if len(cands) != 1:
        raise DataError(
            f"{root}: expected {root.name}.yaml or exactly one *.yaml describing the dataset, "
            f"found {[p.name for p in cands]}"
        )
    return cands[0]


def _eval_params(raw: dict[str, Any] | None) -> EvalParams:
    raw = dict(raw or {})
    k = raw.get("k")
    out = EvalParams(
        k_short=int(raw.get("k_short", k if k is not None else DEFAULT_K)),
        k_long=int(raw.get("k_long", k if k is not None else DEFAULT_K)),
        modes=int(raw.get("modes", DEFAULT_MODES)),
    )
    if min(out.k_short, out.k_long, out.modes) < 1:
        raise DataError(f"evaluation_params must be positive integers, got {out}")
    return out


def read_ctf_dataset(root: str | Path) -> CTFDataset:
    """Open a CTF dataset folder (reads the yaml only; matrices load on demand).

    Raises
    ------
    DataError
        Missing folder or yaml, malformed pairs, unknown metrics.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}")
    ypath = _find_yaml(root)
    try:
        cfg = load_yaml(ypath)
    except ConfigError as err:
        raise DataError(str(err)) from err
    raw_pairs = cfg.get("pairs")
    if not isinstance(raw_pairs, list) or not raw_pairs:
        raise DataError(f"{ypath}: 'pairs' must be a non-empty list")
    pairs: dict[int, Pair] = {}
    for i, rp in enumerate(raw_pairs):
        if not isinstance(rp, dict) or not {"id", "train", "test"} <= set(rp):
            raise DataError(f"{ypath}: pairs[{i}] needs id, train and test")
        train = rp["train"] if isinstance(rp["train"], list) else [rp["train"]]
        metrics = list(rp.get("metrics") or [])
        bad = [m for m in metrics if m not in METRICS]
        if bad:
            raise DataError(f"{ypath}: pair {rp['id']}: unknown metric(s) {bad}; known: {list(METRICS)}")
        pid = int(rp["id"])
        if pid in pairs:
            raise DataError(f"{ypath}: duplicate pair id {pid}")
        pairs[pid] = Pair(pid, [str(t) for t in train], str(rp["test"]), metrics, rp.get("initialization"))
    meta = cfg.get("metadata") or {}
    delta_t = meta.get("delta_t", cfg.get("delta_t", 1.0))
    shapes = {str(k): tuple(int(x) for x in v) for k, v in (meta.get("matrix_shapes") or {}).items()}
    start = {str(k): int(v) for k, v in (meta.get("matrix_start_index") or cfg.get("matrix_start_index") or {}).items()}
    params = _eval_params(cfg.get("evaluation_params"))
    return CTFDataset(root, ypath.stem, cfg, pairs, params, float(delta_t), shapes, start)


def official_pairs(ext: str = "npz") -> list[dict[str, Any]]:
    """The nine official CTF pairs (E1-E12) with matrix names of the given extension."""

    def tr(i: int) -> str:
        return f"X{i}train.{ext}"

    def te(j: int) -> str:
        return f"X{j}test.{ext}"

    para = [tr(6), tr(7), tr(8)]
    return [
        {"id": 1, "train": [tr(1)], "test": te(1), "metrics": ["short_time", "long_time"]},
        {"id": 2, "train": [tr(2)], "test": te(2), "metrics": ["reconstruction"]},
        {"id": 3, "train": [tr(2)], "test": te(3), "metrics": ["long_time"]},
        {"id": 4, "train": [tr(3)], "test": te(4), "metrics": ["reconstruction"]},
        {"id": 5, "train": [tr(3)], "test": te(5), "metrics": ["long_time"]},
        {"id": 6, "train": [tr(4)], "test": te(6), "metrics": ["short_time", "long_time"]},
        {"id": 7, "train": [tr(5)], "test": te(7), "metrics": ["short_time", "long_time"]},
        {"id": 8, "train": para, "test": te(8), "initialization": tr(9), "metrics": ["short_time"]},
        {"id": 9, "train": para, "test": te(9), "initialization": tr(10), "metrics": ["short_time"]},
    ]


def write_ctf_dataset(
    root: str | Path,
    name: str,
    matrices: dict[str, tuple[np.ndarray, int]],
    delta_t: float,
    params: EvalParams,
    extra: dict[str, Any] | None = None,
    ext: str = "npz",
) -> Path:
    """Write a dataset in the official layout.

    Parameters
    ----------
    root
        Output folder (created).
    name
        Dataset name; the yaml is ``<root>/<name>.yaml``.
    matrices
        ``"X1train"`` / ``"X1test"`` ... -> ``(array, start_index)``.
    delta_t
        Time between rows.
    params
        Evaluation parameters written as ``k_short``, ``k_long``, ``modes`` (and ``k`` = ``k_short``
        for ``ctf4science`` versions that read a single ``k``).
    extra
        Additional top-level yaml keys (simulation provenance).
    ext
        Matrix format: ``npz``, ``npy`` or ``mat``.
    """
    root = Path(root)
    shapes: dict[str, list[int]] = {}
    starts: dict[str, int] = {}
    for key, (arr, start) in matrices.items():
        split = "train" if key.endswith("train") else "test"
        fname = f"{key}.{ext}"
        save_matrix(root / split / fname, np.asarray(arr))
        shapes[fname] = [int(s) for s in arr.shape]
        starts[fname] = int(start)
    cfg: dict[str, Any] = {
        "type": "spatio-temporal",
        "evaluation_params": {
            "k": params.k_short, "k_short": params.k_short, "k_long": params.k_long, "modes": params.modes,
        },
        "pairs": official_pairs(ext),
        "metadata": {
            "delta_t": float(delta_t),
            "spatial_dimension": int(next(iter(matrices.values()))[0].shape[1]),
            "matrix_shapes": shapes,
            "matrix_start_index": starts,
        },
        "evaluations": {"long_time": "spectral_L2_error"},
        "visualizations": ["psd", "2d_comparison"],
    }
    if extra:
        cfg.update(extra)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@dataclass
class Split:
    """Training input, truth and burn-in for one pair (test or validation)."""

    pair_id: int
    task: str
    train: list[np.ndarray]
    truth: np.ndarray | None
    init: np.ndarray | None
    truth_shape: tuple[int, ...]


def evaluation_split(ds: CTFDataset, pair_id: int, with_truth: bool = True) -> Split:
    """The official train/test split of a pair."""
    p = ds.pair(pair_id)
    truth = ds.test(pair_id) if with_truth else None
    shape = tuple(truth.shape) if truth is not None else ds.test_shape(pair_id)
    return Split(pair_id, p.task, ds.train(pair_id), truth, ds.initialization(pair_id), shape)


def validation_split(ds: CTFDataset, pair_id: int, train_split: float = 0.8) -> Split:
    """The validation split used for tuning, following ``ctf4science.load_validation_dataset``.

    - pairs 1, 3, 5, 6, 7: first ``int(train_split * rows)`` rows train, the rest is the truth;
    - pairs 2, 4 (reconstruction): the truth is the (noisy) training matrix itself;
    - pairs 8, 9: hold out the 2nd (pair 8) or 3rd (pair 9) training matrix; its first
      ``len(burn-in)`` rows are the burn-in and the rest is the truth to forecast.

    The official loader returns the whole held-out matrix; the forecast truth here is the part after
    the burn-in so that a model predicts the continuation, as it does on the test split.
    """
    p = ds.pair(pair_id)
    train = ds.train(pair_id)
    if p.task == "reconstruction":
        return Split(pair_id, p.task, train, train[0].copy(), None, train[0].shape)
    if p.initialization is not None:
        if len(train) < 3:
            raise DataError(f"pair {pair_id}: parametric validation needs 3 training matrices, got {len(train)}")
        held = 1 if pair_id == 8 else 2 if pair_id == 9 else len(train) - 1
        val = train.pop(held)
        burn = ds.initialization(pair_id)
        nb = burn.shape[0]
        if nb >= val.shape[0]:
            raise DataError(f"pair {pair_id}: burn-in ({nb} rows) is not shorter than the held-out matrix")
        truth = val[nb:]
        return Split(pair_id, p.task, train, truth, val[:nb].copy(), truth.shape)
    if not 0.0 < train_split < 1.0:
        raise ConfigError(f"train_split {train_split} is not in (0, 1)")
    full = train[0]
    n = int(train_split * full.shape[0])
    if n < 2 or n >= full.shape[0]:
        raise DataError(f"pair {pair_id}: {full.shape[0]} rows are too few for a {train_split} validation split")
    truth = full[n:]
    return Split(pair_id, p.task, [full[:n]] + train[1:], truth, None, truth.shape)
