"""Input discovery: files and directories, SDS archives, FDSN web services -> station-day units.

A :class:`StationDay` is the unit of work: one instrument (``NET.STA.LOC``, or ``NET.STA`` for
archive queries with any location) and one UTC day. It carries what is needed to load its data on any
worker (file list, or archive root / service URL), so it can be shipped to a Ray task as is.
Units load ``pad_s`` seconds of data on either side of the day, so windows that cross midnight are
complete; picks are kept only when their peak falls inside the day, so each pick belongs to exactly
one unit.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import obspy

from seisforge.data.continuous.waveio import ReadProblem, is_url, read_waveforms
from seisforge.errors import ConfigError, DataError

DAY = 86400.0


@dataclass(frozen=True)
class StationDay:
    """One station-day of work and where its data come from."""

    station: str  # NET.STA.LOC or NET.STA
    day: str  # YYYY-MM-DD
    kind: str  # "files", "sds" or "fdsn"
    files: tuple[str, ...] = ()
    root: str = ""  # SDS root or FDSN base URL
    channel: str = "*"

    @property
    def key(self) -> str:
        """Unique, file-name-safe key ``NET.STA.LOC__YYYY-MM-DD``."""
        return f"{safe_name(self.station)}__{self.day}"

    @property
    def t0(self) -> obspy.UTCDateTime:
        """Start of the day."""
        return obspy.UTCDateTime(self.day)

    @property
    def t1(self) -> obspy.UTCDateTime:
        """End of the day (exclusive)."""
        return self.t0 + DAY


def safe_name(text: str) -> str:
    """Replace characters that are unsafe in file names."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


@dataclass
class FileIndex:
    """Header-level index of input files."""

    units: list[StationDay] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (reason, path, message)


def expand_paths(paths: list[str]) -> list[str]:
    """Files named directly plus all non-hidden files below named directories, sorted.

    Entries may be fsspec URLs (``s3://bucket/prefix``): a prefix is listed recursively and its files
    are returned as URLs.
    """
    out: list[str] = []
    for p in paths:
        if is_url(p):
            out.extend(_expand_url(p))
            continue
        path = Path(p)
        if path.is_dir():
            out.extend(
                str(f) for f in sorted(path.rglob("*"))
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
        elif path.is_file():
            out.append(str(path))
        else:
            raise DataError(f"input not found: {p}")
    return sorted(set(out))


def _expand_url(url: str) -> list[str]:
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
        root = root.rstrip("/")
        if fs.isfile(root):
            return [url]
        files = [f for f in fs.find(root) if not any(x.startswith(".") for x in f[len(root):].split("/"))]
    except ImportError as err:
        raise ConfigError(f"{url}: {err}; for s3:// install 'seisforge[cloud]'") from err
    except Exception as err:  # noqa: BLE001 - credentials, endpoint, network: one clear message
        raise DataError(f"cannot list {url}: {type(err).__name__}: {err}") from err
    if not files:
        raise DataError(f"input not found: {url} (no objects under it)")
    return [fs.unstrip_protocol(f) for f in sorted(files)]


def sds_remote_files(root: str, net: str, sta: str, loc: str, channel: str,
                     t0: obspy.UTCDateTime, t1: obspy.UTCDateTime) -> list[str]:
    """Files of an SDS archive on object storage overlapping ``[t0, t1]`` (URLs).

    SDS layout ``ROOT/YEAR/NET/STA/CHAN.D/NET.STA.LOC.CHAN.D.YEAR.DOY``, one file per channel-day
    (ObsPy's SDS client reads only local folders). The day before ``t0`` is included, since its file
    may run past midnight.
    """
    import fsspec

    fs, base = fsspec.core.url_to_fs(root)
    base = base.rstrip("/")
    found: set[str] = set()
    day = obspy.UTCDateTime((t0 - DAY).date)
    while day <= t1:
        year, doy = day.year, day.julday
        found.update(fs.glob(f"{base}/{year}/{net}/{sta}/{channel}.D/{net}.{sta}.{loc}.{channel}.D.{year}.{doy:03d}"))
        day += DAY
    return [fs.unstrip_protocol(f) for f in sorted(found)]


def index_files(paths: list[str], pad_s: float) -> FileIndex:
    """Read headers of all files and build station-day units.

    Files that cannot be read are listed in ``problems`` (and reported), never ending the run.
    """
    index = FileIndex()
    by_unit: dict[tuple[str, str], set[str]] = defaultdict(set)
    spans: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for f in expand_paths(paths):
        try:
            st = read_waveforms(f, headonly=True)
        except ReadProblem as err:
            index.problems.append((err.reason, str(f), str(err)))
            continue
        for tr in st:
            sid = f"{tr.stats.network}.{tr.stats.station}.{tr.stats.location}"
            spans[sid].append((tr.stats.starttime.timestamp, tr.stats.endtime.timestamp, str(f)))
            d0 = obspy.UTCDateTime(tr.stats.starttime.date)
            t = d0
            while t <= tr.stats.endtime:
                by_unit[(sid, str(t.date))].add(str(f))
                t += DAY
    for (sid, day), files in sorted(by_unit.items()):
        t0 = obspy.UTCDateTime(day).timestamp
        # neighbours' files that reach into the padding belong to this unit as well
        extra = {p for a, b, p in spans[sid] if b >= t0 - pad_s and a < t0 + DAY + pad_s}
        index.units.append(StationDay(station=sid, day=day, kind="files", files=tuple(sorted(files | extra))))
    return index


def parse_stations(text: str) -> list[str]:
    """``NET.STA[.LOC],...`` -> list; raises ConfigError for malformed entries."""
    out = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        if not re.fullmatch(r"[A-Za-z0-9]{1,2}\.[A-Za-z0-9]{1,5}(\.[A-Za-z0-9-]{0,2})?", item):
            raise ConfigError(f"--stations: {item!r} is not NET.STA or NET.STA.LOC")
        out.append(item)
    if not out:
        raise ConfigError("--stations is empty")
    return out


def day_range(start: str, end: str) -> list[str]:
    """UTC days from ``start`` (inclusive) to ``end`` (exclusive; a bare date means that day is excluded)."""
    try:
        t0, t1 = obspy.UTCDateTime(start), obspy.UTCDateTime(end)
    except Exception as err:  # noqa: BLE001
        raise ConfigError(f"--start/--end: cannot parse {start!r} / {end!r}: {err}") from err
    if t1 <= t0:
        raise ConfigError("--end must be after --start")
    days, t = [], obspy.UTCDateTime(t0.date)
    while t < t1:
        days.append(str(t.date))
        t += DAY
    return days


def archive_units(kind: str, root: str, stations: list[str], start: str, end: str, channel: str) -> list[StationDay]:
    """Units for an SDS archive (``kind="sds"``) or an FDSN service (``kind="fdsn"``)."""
    if kind == "sds" and not is_url(root) and not Path(root).is_dir():
        raise DataError(f"SDS root not found: {root}")
    return [
        StationDay(station=s, day=d, kind=kind, root=root, channel=channel)
        for s in stations for d in day_range(start, end)
    ]


def load_unit(unit: StationDay, pad_s: float, problems: list[tuple[str, str, str]]) -> obspy.Stream:
    """Load a unit's waveforms (day +- ``pad_s``); unreadable files are appended to ``problems``."""
    t0, t1 = unit.t0 - pad_s, unit.t1 + pad_s
    st = obspy.Stream()
    if unit.kind == "files":
        for f in unit.files:
            try:
                part = read_waveforms(f, starttime=t0, endtime=t1)  # neighbours: only the padding
            except ReadProblem as err:
                problems.append((err.reason, f, str(err)))
                continue
            n_parts = len(unit.station.split("."))  # NET.STA (archive query, any location) or NET.STA.LOC
            st += obspy.Stream([tr for tr in part if ".".join(tr.id.split(".")[:n_parts]) == unit.station])
    elif unit.kind in ("sds", "fdsn"):
        parts = unit.station.split(".")
        net, sta = parts[0], parts[1]
        loc = parts[2] if len(parts) > 2 else "*"
        try:
            if unit.kind == "sds" and is_url(unit.root):
                files = sds_remote_files(unit.root, net, sta, loc, unit.channel, t0, t1)
                return load_unit(StationDay(unit.station, unit.day, "files", tuple(files)), pad_s, problems)
            if unit.kind == "sds":
                from obspy.clients.filesystem.sds import Client
            else:
                from obspy.clients.fdsn import Client
            st = Client(unit.root).get_waveforms(net, sta, loc, unit.channel, t0, t1)
        except Exception as err:  # noqa: BLE001 - no data / service errors are reported per unit
            problems.append(("archive_read_error", unit.key, f"{type(err).__name__}: {err}"))
            return obspy.Stream()
    else:
        raise ConfigError(f"unknown unit kind {unit.kind!r}")
    st.trim(t0, t1)
    return obspy.Stream([tr for tr in st if tr.stats.npts > 0])
