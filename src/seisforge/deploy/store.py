"""Pick storage: a Parquet dataset partitioned by station/day plus atomic per-unit state.

Layout of ``PICKS_DIR``::

    picks/station=NET.STA.LOC/day=YYYY-MM-DD/part-0.parquet   one file per station-day
    state/NET.STA.LOC__YYYY-MM-DD.json                         written last: the unit is done
    run_report.json, run.json

A unit's Parquet file is written to a temporary name and renamed into place (atomic on POSIX),
then its state file likewise. A rerun skips units with a state file and recomputes the others,
overwriting their (deterministically named) Parquet file, so a killed run never leaves duplicates or
holes. The pick key is ``(trace_id, phase, peak_time)``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from seisforge.data.continuous.sources import StationDay, safe_name
from seisforge.deploy.engine import Pick

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


def _atomic_write_bytes(path: Path, writer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer(tmp)
        with open(tmp, "rb") as f:
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
    arrays = [pa.array(cols[f.name], type=f.type if f.name not in ("peak_time", "start_time", "end_time")
                       else pa.int64()).cast(f.type) for f in SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


class PickStore:
    """Writes and reads one ``PICKS_DIR``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.picks_dir = self.root / "picks"
        self.state_dir = self.root / "state"

    def part_path(self, unit: StationDay) -> Path:
        """Parquet file of a unit."""
        return self.picks_dir / f"station={safe_name(unit.station)}" / f"day={unit.day}" / "part-0.parquet"

    def state_path(self, unit: StationDay) -> Path:
        """State (done-marker) file of a unit."""
        return self.state_dir / f"{unit.key}.json"

    def is_done(self, unit: StationDay) -> bool:
        """True when the unit finished in an earlier (or this) run."""
        return self.state_path(unit).is_file()

    def write_unit(self, unit: StationDay, table: pa.Table, state: dict[str, Any]) -> None:
        """Atomically write the unit's picks, then its state (the commit point)."""
        _atomic_write_bytes(self.part_path(unit), lambda tmp: pq.write_table(table, tmp))
        payload = json.dumps(state, indent=1, sort_keys=True).encode()
        _atomic_write_bytes(self.state_path(unit), lambda tmp: Path(tmp).write_bytes(payload))

    def clean_stale(self) -> int:
        """Remove temporary files a killed run left behind; returns how many."""
        n = 0
        for d in (self.picks_dir, self.state_dir):
            if d.is_dir():
                for f in d.rglob(".*.tmp"):
                    f.unlink()
                    n += 1
        return n

    def states(self) -> list[dict[str, Any]]:
        """All unit states, sorted by key."""
        if not self.state_dir.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.state_dir.glob("*.json"))]


def read_picks(picks_dir: str | Path) -> pd.DataFrame:
    """Read all picks of a ``PICKS_DIR`` (or its ``picks/`` folder) into a DataFrame sorted by key.

    Adds ``station`` and ``day`` from the partition path.
    """
    root = Path(picks_dir)
    if (root / "picks").is_dir():
        root = root / "picks"
    files = sorted(root.glob("station=*/day=*/*.parquet"))
    frames = []
    for f in files:
        df = pq.read_table(f, schema=SCHEMA).to_pandas()
        df["station"] = f.parent.parent.name.split("=", 1)[1]
        df["day"] = f.parent.name.split("=", 1)[1]
        frames.append(df)
    if not frames:
        empty = SCHEMA.empty_table().to_pandas()
        empty["station"], empty["day"] = pd.Series(dtype=str), pd.Series(dtype=str)
        return empty
    return pd.concat(frames, ignore_index=True).sort_values(KEY, kind="stable").reset_index(drop=True)
