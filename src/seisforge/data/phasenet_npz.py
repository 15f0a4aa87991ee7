"""Convert PhaseNet npz folders (e.g. the NCEDC sample) into a SeisBench-format dataset.

Each ``*.npz`` holds ``data`` (npts x 3, columns E, N, Z), ``itp``/``its`` (P/S sample) and ``channels``.
File names look like ``NC_MTU_2014071807051236_02.npz``: network, station, and the event time
``YYYYMMDDhhmmss`` + centiseconds, which we take as the event identifier (``source_id``) and record as
``source_origin_time`` (assumed to be the event's origin time; the npz carries no trace start time).
"""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from seisforge.data.quality import check_pick_policy, picks_outside
from seisforge.data.sources import write_dataset
from seisforge.data.splits import SPLITS, assign_event_splits
from seisforge.data.targets_io import read_csv_checked
from seisforge.errors import DataError
from seisforge.paths import resolve_under
from seisforge.runinfo import RunReport

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^(?P<net>[A-Z0-9]{1,2})_(?P<sta>[A-Z0-9]+)_(?P<time>\d{16})(?:_(?P<suffix>\w+))?$")
REQUIRED_PICK_COLUMNS = ("fname", "itp", "its")


def parse_name(stem: str) -> dict[str, str]:
    """Split a PhaseNet file stem into network, station, origin time and ``source_id``."""
    m = NAME_RE.match(stem)
    if not m:
        raise DataError(f"{stem}: file name does not follow NET_STA_YYYYMMDDhhmmsscc[_NN]")
    t = m.group("time")
    iso = f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}.{t[14:16]}"
    return {"net": m.group("net"), "sta": m.group("sta"), "origin": iso, "source_id": f"ev{t}"}


def convert_phasenet_npz(
    src: str | Path,
    picks: str | Path,
    out: str | Path,
    split: str = "auto",
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    sampling_rate: float = 100.0,
    pick_policy: str = "drop_pick",
) -> RunReport:
    """Convert a PhaseNet npz folder to ``out/metadata.csv`` + ``out/waveforms.hdf5``.

    Parameters
    ----------
    src
        Folder with the ``*.npz`` files (``waveforms/`` under it is used when present).
    picks
        ``picks.csv`` with at least ``fname``, ``itp``, ``its``.
    out
        Output folder (created; must not already hold a dataset).
    split
        ``auto`` (event-level, deterministic), or one of ``train``/``dev``/``test`` for all traces.
    fractions
        Train/dev/test fractions for ``auto``.
    seed
        Seed for ``auto``.
    sampling_rate
        Sampling rate of the npz data in Hz.
    pick_policy
        Label QC of an ``itp``/``its`` outside ``[0, n_samples)`` (beyond the end or negative):
        ``drop_pick`` (the pick is left empty, the trace flagged ``pick_outside_trace`` in
        ``trace_label_qc``, counted as ``pick_outside_trace_dropped``), ``drop_trace`` (counted as
        skipped ``pick_outside_trace``) or ``error``.

    Returns
    -------
    RunReport
        Written to ``out/run_report.json`` as well.
    """
    src, out = Path(src), Path(out)
    check_pick_policy(pick_policy, "--pick-policy")
    wave_dir, picks_path, table = _checked_inputs(src, picks, out, split)
    out.mkdir(parents=True, exist_ok=True)
    report = RunReport("data convert phasenet-npz")
    rows, waves = [], []
    for rec in tqdm(table.itertuples(index=False), total=len(table), desc="reading npz", unit="trace"):
        trace = _read_trace(rec, wave_dir, sampling_rate, report)
        if trace is not None and _label_qc(rec, trace, pick_policy, report):
            rows.append(trace[0])
            waves.append(trace[1])
            report.processed += 1
    if not rows:
        raise DataError(f"no usable traces in {src}; see counts: {dict(report.failed)}")
    meta = pd.DataFrame(rows)
    if split == "auto":
        meta["split"] = assign_event_splits(meta["source_id"].to_numpy(), fractions, seed)
    else:
        meta["split"] = split
    write_dataset(out, meta, waves)
    report.notes.update({
        "source": str(src),
        "picks": str(picks_path),
        "split_mode": split,
        "fractions": list(fractions),
        "seed": seed,
        "traces_per_split": meta["split"].value_counts().to_dict(),
        "events_per_split": meta.groupby("split")["source_id"].nunique().to_dict(),
        "traces_with_dead_components": int((meta["trace_dead_components"] != "").sum()),
        "pick_policy": pick_policy,
    })
    report.write(out)
    return report


def _checked_inputs(src: Path, picks: str | Path, out: Path, split: str) -> tuple[Path, Path, pd.DataFrame]:
    """The waveform folder, the picks file and its table, after checking the arguments and that ``out``
    holds no dataset yet."""
    wave_dir = src / "waveforms" if (src / "waveforms").is_dir() else src
    if not wave_dir.is_dir():
        raise DataError(f"source folder not found: {src}")
    picks_path = Path(picks)
    if not picks_path.is_file() and (src / picks_path).is_file():
        picks_path = src / picks_path
    if not picks_path.is_file():
        raise DataError(f"picks file not found: {picks}")
    table = read_csv_checked(picks_path, "picks file")
    missing = [c for c in REQUIRED_PICK_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{picks_path}: missing pick column(s) {missing}; found {list(table.columns)}")
    if split != "auto" and split not in SPLITS:
        raise DataError(f"--split must be auto, train, dev or test; got {split!r}")
    if (out / "metadata.csv").exists():
        raise DataError(f"{out} already holds a dataset; choose a new --out")
    return wave_dir, picks_path, table


def _read_trace(rec, wave_dir: Path, sampling_rate: float, report: RunReport) -> tuple[dict, np.ndarray] | None:
    """Metadata row and Z, N, E waveform of one ``picks.csv`` record; None (counted in ``report``) when
    the file is missing, unreadable, misshapen, non-finite or badly named."""
    fname = str(rec.fname)
    try:
        path = resolve_under(wave_dir, fname)
    except DataError:
        report.fail("path_escapes_root", fname)
        return None
    if not path.is_file():
        report.fail("missing_file", fname)
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            data = np.asarray(z["data"], dtype=np.float64)
            channels = str(z["channels"]) if "channels" in z else ""
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        # random bytes give ValueError/OSError, a truncated archive BadZipFile or EOFError: one reason
        report.fail("corrupt_npz", f"{fname}: {type(err).__name__}: {err}")
        return None
    if data.ndim != 2 or data.shape[1] != 3:
        report.fail("bad_shape", f"{fname}: {data.shape}")
        return None
    if not np.isfinite(data).all():
        report.fail("nonfinite_samples", fname)
        return None
    try:
        info = parse_name(Path(fname).stem)
    except DataError as err:
        report.fail("bad_file_name", str(err))
        return None
    zne = data[:, [2, 1, 0]].T.astype(np.float32)  # E,N,Z -> Z,N,E
    dead = [c for c, w in zip("ZNE", zne) if not np.any(w)]
    if dead:
        report.handle("dead_component_recorded", fname)
    itp = float(rec.itp)
    its = float(rec.its)
    row = {
        "trace_name": Path(fname).stem,
        "station_network_code": info["net"],
        "station_code": info["sta"],
        "trace_channel": channels or getattr(rec, "channels", ""),
        "trace_sampling_rate_hz": sampling_rate,
        "trace_p_arrival_sample": itp if itp >= 0 else np.nan,
        "trace_s_arrival_sample": its if its >= 0 else np.nan,
        "source_id": info["source_id"],
        "source_origin_time": info["origin"],
        "trace_category": "earthquake",
        "trace_dead_components": "".join(dead),
        "trace_live_components": 3 - len(dead),
    }
    return row, zne


def _label_qc(rec, trace: tuple[dict, np.ndarray], policy: str, report: RunReport) -> bool:
    """Apply ``policy`` to the picks of ``rec`` outside its trace; False when the trace is dropped.

    The raw ``itp``/``its`` are judged (a negative value is a pick before the trace, not "no pick"; an
    empty value is no pick).
    """
    row, wave = trace
    cols = {"trace_p_arrival_sample": rec.itp, "trace_s_arrival_sample": rec.its}
    bad = picks_outside(cols, wave.shape[-1])
    row["trace_label_qc"] = "pick_outside_trace" if bad else ""
    if not bad:
        return True
    if policy == "error":
        picks = ", ".join(f"{c.split('_')[1]}={cols[c]}" for c in bad)
        raise DataError(f"{rec.fname}: pick(s) {picks} outside the {wave.shape[-1]}-sample trace "
                        "(--pick-policy error)")
    if policy == "drop_trace":
        report.skip("pick_outside_trace", str(rec.fname))
        return False
    for col in bad:
        row[col] = np.nan
    report.handle("pick_outside_trace_dropped", str(rec.fname), n=len(bad))
    return True
