"""Pick storage: a Parquet dataset partitioned by station/day plus self-checking per-unit state.

Layout of ``PICKS_DIR`` (a local folder or an fsspec URL such as ``s3://bucket/prefix``)::

    picks/station=NET.STA.LOC/day=YYYY-MM-DD/part-0.parquet   one file per station-day
    state/NET.STA.LOC__YYYY-MM-DD.json                         written last: the unit is done
    run_report.json, run.json, .lock (local) or lock.json (object storage)

A unit's Parquet file is written first, then its state file, which is the commit point. Locally each
is written to a temporary name, fsynced and renamed into place (atomic on POSIX); on object storage a
PUT is atomic per object (the object appears whole or not at all), so they are written in place. The
state records the settings hash and the part file's row count and SHA-256, so a rerun can check every
done unit against its part file (:meth:`PickStore.check_unit`) and redo the ones that do not match.
The pick key is ``(trace_id, phase, peak_time)``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from seisforge.data.continuous.sources import StationDay, safe_name
from seisforge.deploy.triggers import Pick
from seisforge.errors import ConfigError, DataError

if TYPE_CHECKING:  # pandas only where picks are read back (~0.5 s of a picking process's start-up)
    import pandas as pd

SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("phase", pa.string()),
        ("peak_time", pa.timestamp("ns", tz="UTC")),
        ("peak_value", pa.float32()),
        ("start_time", pa.timestamp("ns", tz="UTC")),
        ("end_time", pa.timestamp("ns", tz="UTC")),
        ("model", pa.string()),
        ("model_version", pa.string()),
    ]
)
KEY = ["trace_id", "phase", "peak_time"]
#: state fields a done unit must have (written by :meth:`PickStore.write_unit`)
STATE_REQUIRED = ("unit", "n_picks", "settings_hash", "part_rows", "part_sha256")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a local file through a fsynced temporary file and a rename (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def picks_table(picks: list[Pick], model: str, model_version: str) -> pa.Table:
    """Picks as an Arrow table with :data:`SCHEMA`."""
    cols: dict[str, Any] = {
        "trace_id": [p.trace_id for p in picks],
        "phase": [p.phase for p in picks],
        "peak_time": [p.peak_time.ns for p in picks],
        "peak_value": [p.peak_value for p in picks],
        "start_time": [p.start_time.ns for p in picks],
        "end_time": [p.end_time.ns for p in picks],
        "model": [model] * len(picks),
        "model_version": [model_version] * len(picks),
    }
    return pa.Table.from_arrays([_column(cols[f.name], f.type) for f in SCHEMA], schema=SCHEMA)


def _column(values: list[Any], kind: pa.DataType) -> pa.Array:
    """An Arrow array of ``values`` built from numpy buffers.

    ``pa.array`` imports pandas on first use (to recognise pandas objects), half a second of every
    picking process's start-up; the buffers give the same array without it.
    """
    if pa.types.is_string(kind):
        data = [v.encode() for v in values]
        offsets = np.zeros(len(data) + 1, dtype=np.int32)
        offsets[1:] = np.cumsum([len(b) for b in data])
        return pa.StringArray.from_buffers(len(data), pa.py_buffer(offsets), pa.py_buffer(b"".join(data)))
    dtype = np.float32 if pa.types.is_float32(kind) else np.int64  # timestamps: integer ns, then cast
    raw = pa.Array.from_buffers(pa.int64() if dtype is np.int64 else kind, len(values),
                                [None, pa.py_buffer(np.asarray(values, dtype=dtype))])
    return raw.cast(kind) if raw.type != kind else raw


def open_fs(url: str | Path, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """``(filesystem, path)`` of a local path or fsspec URL (``s3://...``); options go to the filesystem."""
    try:
        return fsspec.core.url_to_fs(str(url), **(storage_options or {}))
    except ImportError as err:  # s3fs (or another protocol's package) missing
        raise ConfigError(f"{url}: {err}; for s3:// install 'seisforge[cloud]'") from err


class PickStore:
    """Writes, checks and reads one ``PICKS_DIR`` (local folder or object-storage prefix)."""

    def __init__(self, root: str | Path, storage_options: dict[str, Any] | None = None) -> None:
        self.url = str(root)
        self.fs, self.root = open_fs(root, storage_options)
        self.local = isinstance(self.fs, LocalFileSystem)
        self.root = self.root.rstrip("/")
        self.picks_dir = f"{self.root}/picks"
        self.state_dir = f"{self.root}/state"

    def path(self, name: str) -> str:
        """Path of a file directly in the store (``run.json``, ``run_report.json``...)."""
        return f"{self.root}/{name}"

    def part_path(self, unit: StationDay) -> str:
        """Parquet file of a unit."""
        return f"{self.picks_dir}/station={safe_name(unit.station)}/day={unit.day}/part-0.parquet"

    def state_path(self, unit: StationDay) -> str:
        """State (done-marker) file of a unit."""
        return f"{self.state_dir}/{unit.key}.json"

    def put(self, path: str, data: bytes) -> None:
        """Write one file whole: fsync + rename locally, a single PUT on object storage."""
        if self.local:
            atomic_write_bytes(Path(path), data)
            return
        try:
            self.fs.pipe_file(path, data)
        except Exception as err:  # noqa: BLE001 - endpoint, credentials, bucket: one clear message
            raise DataError(f"cannot write {self.fs.unstrip_protocol(path)}: {type(err).__name__}: {err}") from err

    def get(self, path: str) -> bytes | None:
        """Contents of a file, or None if it does not exist."""
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        except Exception as err:  # noqa: BLE001 - as in put()
            if self.local:
                raise
            raise DataError(f"cannot read {self.fs.unstrip_protocol(path)}: {type(err).__name__}: {err}") from err

    def write_json(self, name: str, obj: dict[str, Any]) -> str:
        """Write a JSON file directly in the store; returns its path."""
        self.put(self.path(name), json.dumps(obj, indent=1, sort_keys=True, default=str).encode())
        return self.path(name)

    def read_json(self, name: str) -> dict[str, Any] | None:
        """A JSON file directly in the store, or None when absent."""
        raw = self.get(self.path(name))
        return None if raw is None else json.loads(raw)

    def write_unit(self, unit: StationDay, table: pa.Table, state: dict[str, Any]) -> None:
        """Write the unit's picks, then its state (the commit point) with the part's rows and checksum."""
        buf = io.BytesIO()
        pq.write_table(table, buf)
        data = buf.getvalue()
        state = dict(state, part_rows=table.num_rows, part_sha256=hashlib.sha256(data).hexdigest())
        self.put(self.part_path(unit), data)
        self.put(self.state_path(unit), json.dumps(state, indent=1, sort_keys=True).encode())

    def read_state(self, unit: StationDay) -> tuple[dict[str, Any] | None, str | None]:
        """``(state, None)``; ``(None, "not_done")`` without a state; ``(None, "state_invalid")`` if unreadable."""
        raw = self.get(self.state_path(unit))
        if raw is None:
            return None, "not_done"
        try:
            state = json.loads(raw)
        except ValueError:
            return None, "state_invalid"
        if not isinstance(state, dict) or any(k not in state for k in STATE_REQUIRED):
            return None, "state_invalid"
        return state, None

    def check_unit(self, unit: StationDay, settings_hash: str) -> str | None:
        """None when the unit is done and consistent, else why it must be (re)done.

        Reasons: ``not_done``, ``state_invalid`` (truncated or incomplete JSON), ``settings_mismatch``
        (made with other pick settings), ``part_missing``, ``part_mismatch`` (row count or SHA-256 of
        the part file differ from the state).
        """
        state, problem = self.read_state(unit)
        if state is None:
            return problem
        if state["settings_hash"] != settings_hash:
            return "settings_mismatch"
        data = self.get(self.part_path(unit))
        if data is None:
            return "part_missing"
        if hashlib.sha256(data).hexdigest() != state["part_sha256"]:
            return "part_mismatch"
        try:
            rows = pq.read_metadata(io.BytesIO(data)).num_rows
        except Exception:  # noqa: BLE001 - an unreadable Parquet file does not match its state
            return "part_mismatch"
        return None if rows == state["part_rows"] == state["n_picks"] else "part_mismatch"

    def clean_stale(self) -> int:
        """Remove temporary files a killed run left behind (local only; PUTs leave none); returns how many."""
        n = 0
        if self.local:
            for d in (Path(self.picks_dir), Path(self.state_dir)):
                if d.is_dir():
                    for f in d.rglob(".*.tmp"):
                        f.unlink()
                        n += 1
        return n

    def states(self) -> list[dict[str, Any]]:
        """All readable unit states, sorted by key (unreadable ones are left out; ``check_unit`` redoes them)."""
        out = []
        for path in sorted(self.fs.glob(f"{self.state_dir}/*.json")):
            try:
                state = json.loads(self.fs.cat_file(path))
            except (ValueError, FileNotFoundError):
                continue
            if isinstance(state, dict) and "unit" in state and "n_picks" in state:
                out.append(state)
        return out


def valid_seconds(state: dict[str, Any]) -> float:
    """Seconds of a unit that count as station-time: without flat (dead, zero-filled) or NaN spans.

    States written before ``valid_seconds`` existed fall back to their ``data_seconds``.
    """
    return float(state.get("valid_seconds", state.get("data_seconds", 0.0)))


class OutputLock:
    """One writer per ``PICKS_DIR``.

    Locally an exclusive ``flock`` on ``PICKS_DIR/.lock``: the kernel releases it when the process
    ends, however it ends, so a killed run never blocks the next one. Object storage has no locks: a
    marker object ``lock.json`` (host, pid, token) is written and checked, best effort. A marker of a
    process that no longer runs on this host is taken over; a marker from another host blocks until it
    is deleted (two runs that start within the same instant on different hosts can both pass).
    """

    def __init__(self, store: PickStore) -> None:
        self.store = store
        self.token = uuid.uuid4().hex
        self._fh: Any = None

    def acquire(self) -> OutputLock:
        """Take the lock or raise :class:`ConfigError` naming the folder and the holder."""
        if self.store.local:
            self._acquire_flock()
        else:
            self._acquire_marker()
        return self

    def _acquire_flock(self) -> None:
        import fcntl

        Path(self.store.root).mkdir(parents=True, exist_ok=True)
        fh = open(self.store.path(".lock"), "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown pid"
            fh.close()
            raise ConfigError(f"{self.store.url} is in use by another seisforge pick ({holder}); wait for it "
                              "to finish or use another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
        fh.flush()
        self._fh = fh

    def _acquire_marker(self) -> None:
        holder = self.store.read_json("lock.json")
        if holder and not self._stale(holder):
            raise ConfigError(
                f"{self.store.url} is in use by another seisforge pick (pid {holder.get('pid')} on "
                f"{holder.get('host')}, since {holder.get('since')}); wait for it, or delete "
                f"{self.store.path('lock.json')} if that run is gone")
        mine = {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.store.write_json("lock.json", mine)
        if (self.store.read_json("lock.json") or {}).get("token") != self.token:
            raise ConfigError(f"{self.store.url}: another seisforge pick took the lock at the same time")

    @staticmethod
    def _stale(holder: dict[str, Any]) -> bool:
        if holder.get("host") != socket.gethostname():
            return False
        try:
            os.kill(int(holder.get("pid", -1)), 0)
        except (OSError, ValueError):
            return True  # no such process on this host
        return False

    def release(self) -> None:
        """Give the lock back (also done by the kernel, or left as a stale marker, if the process dies)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        elif not self.store.local:
            holder = self.store.read_json("lock.json")
            if holder and holder.get("token") == self.token:
                self.store.fs.rm_file(self.store.path("lock.json"))

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def read_picks(picks_dir: str | Path, storage_options: dict[str, Any] | None = None) -> pd.DataFrame:
    """Read all picks of a ``PICKS_DIR`` (or its ``picks/`` folder; local or fsspec URL), sorted by key.

    Adds ``station`` and ``day`` from the partition path.
    """
    import pandas as pd

    fs, root = open_fs(picks_dir, storage_options)
    root = root.rstrip("/")
    if fs.isdir(f"{root}/picks"):
        root = f"{root}/picks"
    frames = []
    for f in sorted(fs.glob(f"{root}/station=*/day=*/*.parquet")):
        with fs.open(f, "rb") as fh:
            df = pq.read_table(fh, schema=SCHEMA).to_pandas()
        parts = f.split("/")
        df["station"] = parts[-3].split("=", 1)[1]
        df["day"] = parts[-2].split("=", 1)[1]
        frames.append(df)
    if not frames:
        empty = SCHEMA.empty_table().to_pandas()
        empty["station"], empty["day"] = pd.Series(dtype=str), pd.Series(dtype=str)
        return empty
    return pd.concat(frames, ignore_index=True).sort_values(KEY, kind="stable").reset_index(drop=True)
