"""Chunked, resumable association and the catalog it writes.

**Chunks.** Time is cut into cores ``[k * chunk_s, (k + 1) * chunk_s)`` on a grid from the epoch (so
reruns over other spans line up). A chunk associates all picks in its core widened by ``overlap_s`` on
both sides. ``overlap_s`` must exceed the largest travel time across the region (the default is 1.2
times the largest S time over the search box's diagonal + 10 s), so a chunk sees every pick of an event
whose origin lies in its core, and the picks of events that started shortly before it.

**De-duplication rule.** An event is kept only by the chunk whose *core* holds its origin time (events
found in the overlaps are the neighbours' to keep). A pick assigned to events kept by two chunks goes
to the event with more picks (then the earlier origin, then the lower event id); an event left with
fewer picks than the associator's minimum (``n_picks`` / ``min_picks_per_eq``) is dropped.

**Event key.** ``event_id = "<method>_<origin time, UTC, YYYYMMDDTHHMMSS.mmm>"``: the method and the
origin time rounded to the millisecond; it is unique in a catalog (a clash, which needs two events in
one millisecond, gets ``_2``, ``_3``, ... in origin-time then x order) and does not depend on chunking.

**Resume.** Like ``pick``: each chunk writes its result Parquet, then its state JSON (the commit point),
both atomically; a rerun skips chunks with a state file, and ``run.json`` refuses other settings.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seisforge.deploy.associate.inputs import Region
from seisforge.deploy.associate.settings import AssociateSettings
from seisforge.deploy.store import atomic_write_bytes

EVENT_COLUMNS = ["event_id", "time", "latitude", "longitude", "depth_km", "x_km", "y_km", "n_p", "n_s",
                 "n_picks", "score", "chunk"]
ASSIGNMENT_COLUMNS = ["pick_id", "trace_id", "phase", "peak_time", "event_id", "residual_s"]


@dataclass(frozen=True)
class Chunk:
    """One core ``[start, end)`` (epoch s) and its overlap."""

    start: float
    end: float
    overlap: float

    @property
    def key(self) -> str:
        """File-name-safe key (core start, UTC)."""
        return "chunk_" + pd.Timestamp(self.start, unit="s", tz="UTC").strftime("%Y%m%dT%H%M%S")


def auto_overlap(settings: AssociateSettings, region: Region) -> float:
    """Default overlap: 1.2 x the slowest S time across the region's diagonal (and depth) + 10 s."""
    if settings.overlap_s is not None:
        return float(settings.overlap_s)
    dist = float(np.hypot(region.diagonal_km, region.zlim[1]))
    return 1.2 * dist / min(settings.velocity.vs) + 10.0


def plan_chunks(t0: float, t1: float, chunk_s: float, overlap: float) -> list[Chunk]:
    """Chunks whose cores cover ``[t0, t1]`` on the epoch grid of ``chunk_s``."""
    k0, k1 = int(np.floor(t0 / chunk_s)), int(np.floor(t1 / chunk_s))
    return [Chunk(k * chunk_s, (k + 1) * chunk_s, overlap) for k in range(k0, k1 + 1)]


def _paths(out_dir: str | Path, chunk: Chunk) -> tuple[Path, Path, Path]:
    out = Path(out_dir)
    return (out / "chunks" / f"{chunk.key}.events.parquet", out / "chunks" / f"{chunk.key}.assignments.parquet",
            out / "state" / f"{chunk.key}.json")


def read_inputs(out_dir: str | Path) -> tuple[pd.DataFrame, Region]:
    """Projected stations and the region saved by the driver."""
    d = Path(out_dir) / "inputs"
    stations = pd.read_parquet(d / "stations.parquet")
    r = json.loads((d / "region.json").read_text())
    return stations, Region(r["lat0"], r["lon0"], tuple(r["xlim"]), tuple(r["ylim"]), tuple(r["zlim"]))


def run_chunk(chunk: Chunk, settings: AssociateSettings, out_dir: str) -> dict[str, Any]:
    """Associate one chunk and commit it (result files, then state); returns the state."""
    from seisforge.deploy.associate.gamma_adapter import associate_gamma
    from seisforge.deploy.associate.pyocto_adapter import associate_pyocto

    t_start = time.time()
    (Path(out_dir) / "state").mkdir(parents=True, exist_ok=True)
    stations, region = read_inputs(out_dir)
    lo, hi = chunk.start - chunk.overlap, chunk.end + chunk.overlap
    picks = pd.read_parquet(Path(out_dir) / "inputs" / "picks.parquet",
                            filters=[("time", ">=", lo), ("time", "<", hi)])
    fn = associate_pyocto if settings.method == "pyocto" else associate_gamma
    events, asg = fn(picks, stations, region, settings, Path(out_dir) / "state", time_before=chunk.overlap)
    events = events.assign(chunk=chunk.key, own=(events["time"] >= chunk.start) & (events["time"] < chunk.end))
    ev_path, asg_path, state_path = _paths(out_dir, chunk)
    atomic_write_bytes(Path(ev_path), events.to_parquet())
    atomic_write_bytes(Path(asg_path), asg.assign(chunk=chunk.key).to_parquet())
    state = {"chunk": chunk.key, "start": chunk.start, "end": chunk.end, "overlap": chunk.overlap,
             "n_picks_in": len(picks), "n_events_found": len(events), "n_events_owned": int(events["own"].sum()),
             "elapsed_s": round(time.time() - t_start, 3)}
    payload = json.dumps(state, indent=1, sort_keys=True).encode()
    atomic_write_bytes(Path(state_path), payload)
    return state


def is_done(out_dir: str | Path, chunk: Chunk) -> bool:
    """True when the chunk's state file exists."""
    return _paths(out_dir, chunk)[2].is_file()


def _min_picks(settings: AssociateSettings) -> int:
    return int(settings.pyocto["n_picks"] if settings.method == "pyocto" else settings.gamma["min_picks_per_eq"])


def _event_ids(method: str, times: pd.Series, xs: pd.Series) -> list[str]:
    stamps = pd.to_datetime(np.round(times.to_numpy(float) * 1000).astype("int64"), unit="ms", utc=True)
    base = [f"{method}_{t.strftime('%Y%m%dT%H%M%S')}.{t.microsecond // 1000:03d}" for t in stamps]
    order = np.lexsort((xs.to_numpy(float), times.to_numpy(float)))
    seen: dict[str, int] = {}
    out = [""] * len(base)
    for i in order:
        seen[base[i]] = seen.get(base[i], 0) + 1
        out[i] = base[i] if seen[base[i]] == 1 else f"{base[i]}_{seen[base[i]]}"
    return out


def merge_chunks(out_dir: str | Path, chunks: list[Chunk], settings: AssociateSettings,
                 picks: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the de-duplication rule to all chunk results; returns ``(events, assignments)`` tables."""
    _, region = read_inputs(out_dir)
    evs, asgs = [], []
    for c in chunks:
        ev_path, asg_path, _ = _paths(out_dir, c)
        ev, asg = pd.read_parquet(ev_path), pd.read_parquet(asg_path)
        ev = ev[ev["own"]]
        evs.append(ev.assign(uid=c.key + "/" + ev["event_idx"].astype(str)))
        asgs.append(asg.assign(uid=c.key + "/" + asg["event_idx"].astype(str)))
    ev = pd.concat(evs, ignore_index=True) if evs else pd.DataFrame(
        columns=["uid", "time", "x", "y", "z", "score", "chunk", "event_idx"])
    asg = pd.concat(asgs, ignore_index=True) if asgs else pd.DataFrame(columns=["uid", "pick_id", "residual_s"])
    asg = asg[asg["uid"].isin(set(ev["uid"]))]
    # pick conflicts between kept events: the larger event (then earlier, then lower id) keeps the pick
    size = asg.groupby("uid").size()
    asg = asg.assign(size=asg["uid"].map(size), t=asg["uid"].map(ev.set_index("uid")["time"]))
    asg = asg.sort_values(["pick_id", "size", "t", "uid"], ascending=[True, False, True, True])
    asg = asg.drop_duplicates("pick_id", keep="first")
    size = asg.groupby("uid").size()
    ev = ev[ev["uid"].map(size).fillna(0) >= _min_picks(settings)].sort_values(["time", "x"], kind="stable")
    asg = asg[asg["uid"].isin(set(ev["uid"]))]
    lat, lon = region.to_latlon(ev["x"], ev["y"]) if len(ev) else (np.array([]), np.array([]))
    ids = _event_ids(settings.method, ev["time"], ev["x"]) if len(ev) else []
    uid_to_id = dict(zip(ev["uid"], ids))
    phase = asg["pick_id"].str.rsplit("_", n=2).str[1] if len(asg) else pd.Series(dtype=str)
    counts = pd.DataFrame({"uid": asg["uid"], "p": phase == "P", "s": phase == "S"}).groupby("uid").sum()
    events = pd.DataFrame({
        "event_id": ids, "time": pd.to_datetime(np.round(ev["time"].to_numpy(float) * 1e6).astype("int64"),
                                                unit="us", utc=True),
        "latitude": lat, "longitude": lon, "depth_km": ev["z"].to_numpy(float), "x_km": ev["x"].to_numpy(float),
        "y_km": ev["y"].to_numpy(float), "n_p": ev["uid"].map(counts["p"]).fillna(0).astype(int).to_numpy(),
        "n_s": ev["uid"].map(counts["s"]).fillna(0).astype(int).to_numpy(), "n_picks": 0,
        "score": ev["score"].to_numpy(float), "chunk": ev["chunk"].to_numpy()}, columns=EVENT_COLUMNS)
    events["n_picks"] = events["n_p"] + events["n_s"]
    eid = asg.set_index("pick_id")["uid"].map(uid_to_id)
    res = asg.set_index("pick_id")["residual_s"]
    assignments = picks[["pick_id", "trace_id", "phase", "peak_time"]].assign(
        event_id=picks["pick_id"].map(eid).fillna(""), residual_s=picks["pick_id"].map(res).astype(float))
    return events.reset_index(drop=True), assignments[ASSIGNMENT_COLUMNS].reset_index(drop=True)
