"""SeisBench-format datasets: open by name or path, validate, and key traces.

A trace is identified by ``(dataset, chunk, trace_name)``: trace names repeat across chunks of a chunked
dataset, so a bare ``trace_name`` (or a row index) is not a key.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.errors import DataError
from seisforge.seisbench_compat import rebuild_trace_index, set_metadata_column

log = logging.getLogger(__name__)

#: Metadata columns holding phase onsets, mapped to P/S. The first block is pick-benchmark's
#: ``phase_dict``; ``trace_p2``/``trace_s2`` label a second event inside a synthetic trace.
PHASE_COLUMNS: dict[str, str] = {
    "trace_p_arrival_sample": "P",
    "trace_pP_arrival_sample": "P",
    "trace_P_arrival_sample": "P",
    "trace_P1_arrival_sample": "P",
    "trace_Pg_arrival_sample": "P",
    "trace_Pn_arrival_sample": "P",
    "trace_PmP_arrival_sample": "P",
    "trace_pwP_arrival_sample": "P",
    "trace_pwPm_arrival_sample": "P",
    "trace_s_arrival_sample": "S",
    "trace_S_arrival_sample": "S",
    "trace_S1_arrival_sample": "S",
    "trace_Sg_arrival_sample": "S",
    "trace_SmS_arrival_sample": "S",
    "trace_Sn_arrival_sample": "S",
    "trace_p2_arrival_sample": "P",
    "trace_s2_arrival_sample": "S",
}


def dataset_name(spec: str | Path) -> str:
    """Short dataset name used in trace keys: folder name for paths, class name otherwise."""
    p = Path(spec)
    return p.name if p.exists() else str(spec)


def _check_folder(path: Path) -> None:
    if not path.is_dir():
        raise DataError(f"dataset folder not found: {path}")
    chunks_file = path / "chunks"
    if chunks_file.is_file():
        chunks = [c.strip() for c in chunks_file.read_text().splitlines() if c.strip()]
    else:
        metas = sorted(path.glob("metadata*.csv"))
        if not metas:
            raise DataError(f"{path}: no metadata*.csv; not a SeisBench-format dataset")
        chunks = [m.name[len("metadata"):-len(".csv")] for m in metas]
    for chunk in chunks:
        meta = path / f"metadata{chunk}.csv"
        wav = path / f"waveforms{chunk}.hdf5"
        if not meta.is_file():
            raise DataError(f"{path}: chunk {chunk!r} has no {meta.name}")
        if not wav.is_file():
            raise DataError(f"{path}: chunk {chunk!r} has no {wav.name} (missing HDF5)")
        import h5py

        try:
            with h5py.File(wav, "r") as f:
                f.keys()
        except OSError as err:
            raise DataError(f"{wav}: corrupt or unreadable HDF5 ({err})") from err


def open_dataset(
    spec: str | Path,
    sampling_rate: float | None = None,
    component_order: str = "ZNE",
    cache: str | None = None,
    **kwargs,
):
    """Open a SeisBench dataset by path (folder with ``metadata*.csv`` + ``waveforms*.hdf5``) or name.

    Parameters
    ----------
    spec
        A folder, or a SeisBench dataset class name such as ``ETHZ`` (downloads on first use; needs
        network or the SeisBench cache).
    sampling_rate
        Resample traces to this rate on load (SeisBench adjusts ``*_sample`` metadata accordingly).
    component_order
        Component order of returned waveforms; missing components are zero-padded by SeisBench and
        counted by the callers that care (``bench predict`` counts them as dead or missing).
    cache
        SeisBench cache mode (``None``, ``"trace"``, ``"full"``).

    Returns
    -------
    seisbench.data.WaveformDataset
        With a ``trace_dataset`` metadata column naming the dataset, and a unique-key check done.
    """
    import seisbench.data as sbd

    args = dict(
        sampling_rate=sampling_rate, component_order=component_order, dimension_order="NCW", cache=cache,
        **kwargs,
    )
    path = Path(spec)
    if path.exists() or "/" in str(spec) or str(spec).startswith("."):
        _check_folder(path)
        try:
            ds = sbd.WaveformDataset(path, **args)
        except Exception as err:
            raise DataError(f"{path}: SeisBench could not open the dataset: {err}") from err
        name = path.name
    else:
        cls = getattr(sbd, str(spec), None)
        if cls is None or not isinstance(cls, type):
            raise DataError(f"{spec!r} is neither a dataset folder nor a SeisBench dataset name")
        try:
            ds = cls(**args)
        except Exception as err:
            raise DataError(
                f"could not open SeisBench dataset {spec}: {err}. Downloading needs network access; "
                "otherwise place it in the SeisBench cache (~/.seisbench/datasets)."
            ) from err
        name = str(spec)
    if "trace_chunk" not in ds.metadata.columns:
        set_metadata_column(ds, "trace_chunk", "")
    set_metadata_column(ds, "trace_chunk", ds.metadata["trace_chunk"].fillna("").astype(str))
    set_metadata_column(ds, "trace_dataset", name)
    check_unique_keys(ds.metadata)
    rebuild_trace_index(ds)
    return ds


def trace_keys(metadata: pd.DataFrame) -> pd.Series:
    """``dataset|chunk|trace_name`` strings, the unique trace key."""
    ds = metadata["trace_dataset"].astype(str) if "trace_dataset" in metadata else ""
    chunk = metadata["trace_chunk"].astype(str) if "trace_chunk" in metadata else ""
    return ds + "|" + chunk + "|" + metadata["trace_name"].astype(str)


def check_unique_keys(metadata: pd.DataFrame) -> None:
    """Raise :class:`DataError` when ``(dataset, chunk, trace_name)`` is not unique."""
    keys = trace_keys(metadata)
    dup = keys[keys.duplicated()]
    if len(dup):
        raise DataError(
            f"{len(dup)} duplicate trace keys (dataset|chunk|trace_name), e.g. {list(dup.iloc[:3])}; "
            "trace names must be unique within a chunk"
        )


def phase_columns(metadata: pd.DataFrame) -> dict[str, str]:
    """The phase columns present in ``metadata`` (subset of :data:`PHASE_COLUMNS`)."""
    return {c: p for c, p in PHASE_COLUMNS.items() if c in metadata.columns}


def write_dataset(out: Path, meta: pd.DataFrame, waves: list[np.ndarray], unit: str = "counts",
                  instrument_response: str = "not restituted") -> None:
    """Write ``metadata.csv`` + ``waveforms.hdf5`` (ZNE, channels x samples) with SeisBench's writer."""
    import seisbench.data as sbd

    with sbd.WaveformDataWriter(Path(out) / "metadata.csv", Path(out) / "waveforms.hdf5") as writer:
        writer.data_format = {
            "dimension_order": "CW",
            "component_order": "ZNE",
            "measurement": "velocity",
            "unit": unit,
            "instrument_response": instrument_response,
        }
        for row, wave in zip(meta.to_dict("records"), waves):
            writer.add_trace(row, wave)
