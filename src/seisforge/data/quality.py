"""Data QC during manifest building: flat/dead components, clipping, NaN/inf, duplicate waveforms.

Flags (written, ``;``-joined, into the manifest's ``qc_flags`` column):

``nonfinite``
    NaN or inf samples anywhere in the trace.
``dead_component``
    A component that is all zeros (also a component SeisBench zero-padded because it is missing).
``flat_component``
    A component that is constant but not zero (a stuck digitiser / DC only).
``clipped``
    A component whose absolute maximum is reached on at least ``clip_min_run`` pairs of adjacent samples
    (a plateau at full scale); real peaks are single samples.
``zero_gap``
    A live component holding a run of at least ``gap_min_samples`` exact zeros (a data gap filled with
    zeros, e.g. a zero-padded start); the step at its end looks like an onset to pickers and STA/LTA.
``duplicate_waveform``
    The exact bytes (dtype and shape included, BLAKE2b) of an earlier trace in key order
    (``dataset|chunk|trace_name``) across all datasets; the first copy is not flagged.
``pick_outside_trace``
    A label-QC flag: a labelled arrival (any SeisBench phase column) outside ``[0, n_samples)`` of the
    stored trace: beyond the end, negative, or P at 3000 on a 200-sample trace. The real arrival is
    somewhere else, so the trace cannot serve as noise either.

The policy per flag (``keep``, ``drop``, ``error``) is :class:`QcConfig.policy`; counts go into the report.
``pick_outside_trace`` has its own policies, :data:`PICK_POLICIES`: ``drop_pick`` (the manifest's
``p_sample``/``s_sample`` outside the trace become empty, counted), ``drop_trace`` (the row is dropped,
counted) or ``error``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from tqdm import tqdm

from seisforge.errors import DataError

FLAGS = ("nonfinite", "dead_component", "flat_component", "clipped", "zero_gap", "duplicate_waveform",
         "pick_outside_trace")
Policy = Literal["keep", "drop", "error", "drop_pick", "drop_trace"]
POLICIES = ("keep", "drop", "error")
PICK_POLICIES = ("drop_pick", "drop_trace", "error")


def _default_policy() -> dict[str, str]:
    return {"nonfinite": "drop", "dead_component": "keep", "flat_component": "keep", "clipped": "keep",
            "zero_gap": "keep", "duplicate_waveform": "drop", "pick_outside_trace": "drop_pick"}


def check_pick_policy(policy: str, where: str = "pick policy") -> str:
    """``policy`` if it is one of :data:`PICK_POLICIES`, else a :class:`~seisforge.errors.ConfigError`."""
    if policy not in PICK_POLICIES:
        from seisforge.errors import ConfigError

        raise ConfigError(f"{where} must be one of {', '.join(PICK_POLICIES)}; got {policy!r}")
    return policy


def picks_outside(values: dict[str, float], n_samples: int) -> list[str]:
    """Names of the finite ``values`` (pick samples) outside ``[0, n_samples)``; NaN means no pick."""
    out = []
    for name, v in values.items():
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if np.isfinite(v) and not 0 <= v < n_samples:
            out.append(name)
    return out


@dataclass
class QcConfig:
    """QC settings: ``enabled`` reads every waveform once; ``policy`` maps each flag to keep/drop/error."""

    enabled: bool = True
    policy: dict[str, Policy] = field(default_factory=_default_policy)
    clip_min_run: int = 3
    gap_min_samples: int = 100

    def __post_init__(self) -> None:
        unknown = sorted(set(self.policy) - set(FLAGS))
        if unknown:
            from seisforge.errors import ConfigError

            raise ConfigError(f"qc.policy: unknown flag(s) {unknown}; known: {list(FLAGS)}")
        self.policy = {**_default_policy(), **self.policy}
        for flag, value in self.policy.items():
            if flag == "pick_outside_trace":
                check_pick_policy(value, "qc.policy.pick_outside_trace")
            elif value not in POLICIES:
                from seisforge.errors import ConfigError

                raise ConfigError(f"qc.policy.{flag} must be one of {', '.join(POLICIES)}; got {value!r}")


def longest_zero_run(w: np.ndarray) -> np.ndarray:
    """Length of the longest run of exact zeros per component of ``w`` (C, T)."""
    z = np.zeros((w.shape[0], w.shape[1] + 2), dtype=np.int8)
    z[:, 1:-1] = w == 0
    d = np.diff(z, axis=1)
    out = np.zeros(w.shape[0], dtype=np.int64)
    for c in range(w.shape[0]):
        starts, ends = np.flatnonzero(d[c] == 1), np.flatnonzero(d[c] == -1)
        if len(starts):
            out[c] = int((ends - starts).max())
    return out


def waveform_flags(wave: np.ndarray, clip_min_run: int = 3, gap_min_samples: int = 100) -> list[str]:
    """QC flags of one waveform (C, T), without the duplicate check."""
    flags = []
    w = np.asarray(wave)
    if not np.isfinite(w).all():
        flags.append("nonfinite")
        w = np.nan_to_num(w, nan=0.0, posinf=0.0, neginf=0.0)
    if w.ndim == 1:
        w = w[None]
    if w.shape[-1] == 0:
        return flags + ["dead_component"]
    lo, hi = w.min(axis=-1), w.max(axis=-1)
    dead = (lo == 0) & (hi == 0)
    flat = (lo == hi) & ~dead
    if dead.any():
        flags.append("dead_component")
    if flat.any():
        flags.append("flat_component")
    live = ~(dead | flat)
    if live.any() and w.shape[-1] > 1:
        a = np.abs(w[live])
        top = a >= a.max(axis=-1, keepdims=True)
        runs = (top[:, 1:] & top[:, :-1]).sum(axis=-1)
        if (runs >= clip_min_run).any():
            flags.append("clipped")
        if (longest_zero_run(w[live]) >= gap_min_samples).any():
            flags.append("zero_gap")
    return flags


def waveform_hash(wave: np.ndarray) -> str:
    """BLAKE2b digest of a waveform's dtype, shape and bytes."""
    w = np.ascontiguousarray(wave)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{w.dtype.str}{w.shape}".encode())
    h.update(w.tobytes())
    return h.hexdigest()


def scan_dataset(ds, cfg: QcConfig, desc: str = "qc") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read each trace of a SeisBench dataset once; return QC flag strings, waveform hashes and lengths
    (samples; -1 when unreadable) per row.

    A trace that cannot be read gets the flag ``unreadable`` (always dropped, counted).
    """
    from seisforge.data.sources import phase_columns

    n = len(ds.metadata)
    flags = np.full(n, "", dtype=object)
    hashes = np.full(n, "", dtype=object)
    lengths = np.full(n, -1, dtype=np.int64)
    cols = list(phase_columns(ds.metadata))
    labels = ds.metadata[cols].to_dict("records") if cols else [{}] * n
    for i in tqdm(range(n), desc=desc, unit="trace", leave=False):
        try:
            wave = ds.get_waveforms(i)
        except Exception:  # corrupt trace: flagged, then dropped and counted by the manifest builder
            flags[i] = "unreadable"
            continue
        found = waveform_flags(wave, cfg.clip_min_run, cfg.gap_min_samples)
        lengths[i] = wave.shape[-1]
        if picks_outside(labels[i], lengths[i]):
            found.append("pick_outside_trace")
        flags[i] = ";".join(found)
        hashes[i] = waveform_hash(wave)
    return flags, hashes, lengths


def mark_duplicates(keys: pd.Series, flags: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Add ``zero_gap``
    A live component holding a run of at least ``gap_min_samples`` exact zeros (a data gap filled with
    zeros, e.g. a zero-padded start); the step at its end looks like an onset to pickers and STA/LTA.
``duplicate_waveform`` to every row whose hash occurred at an earlier key (sorted order)."""
    h = pd.Series(hashes, index=keys.index)
    order = np.argsort(keys.to_numpy(dtype=str), kind="stable")
    dup_sorted = h.iloc[order].duplicated(keep="first").to_numpy() & (h.iloc[order] != "").to_numpy()
    dup = np.zeros(len(h), dtype=bool)
    dup[order] = dup_sorted
    out = flags.copy()
    out[dup] = np.where(out[dup] == "", "duplicate_waveform", out[dup] + ";duplicate_waveform")
    return out


def apply_policy(df: pd.DataFrame, cfg: QcConfig, drops: dict[str, int]) -> pd.DataFrame:
    """Apply the keep/drop/error policy to ``df["qc_flags"]``; count drops into ``drops``.

    A row with several dropped flags is counted once, under the first in :data:`FLAGS` order.
    """
    has = {f: df["qc_flags"].str.contains(rf"(?:^|;){f}(?:;|$)", regex=True).to_numpy() for f in
           (*FLAGS, "unreadable")}
    for flag in FLAGS:
        if cfg.policy[flag] == "error" and has[flag].any():
            keys = (df["dataset"] + "|" + df["chunk"] + "|" + df["trace_name"])[has[flag]]
            raise DataError(f"QC: {int(has[flag].sum())} trace(s) flagged {flag} and qc.policy.{flag} is "
                            f"'error', e.g. {list(keys.iloc[:3])}")
    drop = np.zeros(len(df), dtype=bool)
    for flag in ("unreadable", *FLAGS):
        if flag == "unreadable" or cfg.policy[flag] in ("drop", "drop_trace"):
            new = has[flag] & ~drop
            if new.any():
                drops[f"qc_{flag}"] = drops.get(f"qc_{flag}", 0) + int(new.sum())
            drop |= has[flag]
    return df[~drop]


def flag_counts(qc_flags: pd.Series) -> dict[str, int]:
    """Number of rows carrying each flag."""
    return {f: int(qc_flags.str.contains(rf"(?:^|;){f}(?:;|$)", regex=True).sum()) for f in (*FLAGS, "unreadable")}



def apply_pick_policy(df: pd.DataFrame, cfg: QcConfig, drops: dict[str, int]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Label QC of the manifest's ``p_sample``/``s_sample``: picks outside ``[0, n_samples)``.

    Negative picks are caught from the metadata alone; picks beyond the end need the ``n_samples``
    column of the waveform scan. Flagged rows get ``pick_outside_trace`` in ``qc_flags``; then the
    policy: ``drop_pick`` empties the picks (counted per phase in the returned dict), ``drop_trace``
    drops the rows (counted in ``drops["qc_pick_outside_trace"]``), ``error`` raises a DataError.
    """
    counts = {"P": 0, "S": 0}
    n = df["n_samples"].to_numpy(dtype=float) if "n_samples" in df else np.full(len(df), np.inf)
    n = np.where(n >= 0, n, np.inf)  # -1: unreadable, never judged here
    bad = {}
    for phase, col in (("P", "p_sample"), ("S", "s_sample")):
        v = df[col].to_numpy(dtype=float)
        bad[phase] = np.isfinite(v) & ((v < 0) | (v >= n))
    rows = bad["P"] | bad["S"]
    if not rows.any():
        return df, counts
    policy = cfg.policy["pick_outside_trace"]
    if policy == "error":
        keys = (df["dataset"] + "|" + df["chunk"] + "|" + df["trace_name"])[rows]
        raise DataError(f"label QC: {int(rows.sum())} trace(s) with a P or S pick outside the trace and "
                        f"qc.policy.pick_outside_trace is 'error', e.g. {list(keys.iloc[:3])}")
    df = df.copy()
    flags = np.array(df["qc_flags"].to_numpy(dtype=object), dtype=object)
    has = df["qc_flags"].str.contains(r"(?:^|;)pick_outside_trace(?:;|$)", regex=True).to_numpy(dtype=bool)
    add = rows & ~has
    flags[add] = np.where(flags[add] == "", "pick_outside_trace", flags[add] + ";pick_outside_trace")
    df["qc_flags"] = flags
    if policy == "drop_trace":
        drops["qc_pick_outside_trace"] = drops.get("qc_pick_outside_trace", 0) + int(rows.sum())
        return df[~rows], counts
    for phase, col in (("P", "p_sample"), ("S", "s_sample")):
        counts[phase] = int(bad[phase].sum())
        df.loc[bad[phase], col] = np.nan
    return df, counts
