"""Safe waveform file reading: an explicit format whitelist, corrupt/truncated files reported.

ObsPy's format autodetection includes a ``PICKLE`` reader, so user files are never passed to
``obspy.read`` without a format: each file is checked against the whitelisted formats' own
detectors (miniSEED, SAC) and read with that format only.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import warnings
from collections import OrderedDict
from concurrent.futures import Future
from pathlib import Path

import obspy

from seisforge.errors import ConfigError

log = logging.getLogger(__name__)

FORMATS = ("MSEED", "SAC")


class ReadProblem(Exception):
    """A file that cannot be used; ``reason`` is a short code for the run report."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def detect_format(path: str | Path, allowed: tuple[str, ...] = FORMATS,
                  errors: list[str] | None = None) -> str | None:
    """Return the first whitelisted format whose detector accepts ``path``, else None.

    A detector that raises counts as "not this format"; its error is appended to ``errors`` (when
    given) so that the caller can report it.
    """
    from obspy.io.mseed.core import _is_mseed
    from obspy.io.sac.core import _is_sac

    detectors = {"MSEED": _is_mseed, "SAC": _is_sac}
    for fmt in allowed:
        if fmt not in detectors:
            raise ConfigError(f"unsupported waveform format {fmt!r}; allowed: {', '.join(FORMATS)}")
        try:
            if detectors[fmt](str(path)):
                return fmt
        except Exception as err:  # noqa: BLE001 - a detector failing means "not this format"; reported
            if errors is not None:
                errors.append(f"{fmt} detector: {type(err).__name__}: {err}")
    return None


def read_waveforms(path: str | Path, headonly: bool = False, fmt: str | None = None,
                   starttime: obspy.UTCDateTime | None = None,
                   endtime: obspy.UTCDateTime | None = None) -> obspy.Stream:
    """Read one waveform file, optionally only the records overlapping ``[starttime, endtime]``.

    Raises
    ------
    ReadProblem
        ``empty_file`` (zero bytes), ``unknown_format`` (not miniSEED/SAC), ``corrupt_file`` (the
        reader failed) or ``truncated_file`` (a miniSEED file ending inside a record, see
        :func:`mseed_truncation`, or the reader reported an unexpected end of file; the whole file is
        skipped rather than using a partial record set).
    """
    if not headonly and fmt is None:
        ahead = _decoded_ahead(path, starttime, endtime)
        if ahead is not None:
            return ahead
    return _read(path, headonly, fmt, starttime, endtime)


def _read(path: str | Path, headonly: bool, fmt: str | None, starttime: obspy.UTCDateTime | None,
          endtime: obspy.UTCDateTime | None) -> obspy.Stream:
    """:func:`read_waveforms` from the file itself."""
    name, path = path, localize(path)
    if Path(path).stat().st_size == 0:
        raise ReadProblem("empty_file", f"{name}: zero-length file")
    errors: list[str] = []
    fmt = fmt or detect_format(path, errors=errors)
    if fmt is None:
        raise ReadProblem("unknown_format", f"{name}: not miniSEED or SAC" + "".join(f"; {e}" for e in errors))
    if fmt == "MSEED":
        problem = mseed_truncation(path)
        if problem:
            raise ReadProblem("truncated_file", f"{name}: {problem}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            st = obspy.read(str(path), format=fmt, headonly=headonly, starttime=starttime, endtime=endtime)
        except Exception as err:  # noqa: BLE001 - any reader failure is a corrupt file
            raise ReadProblem("corrupt_file", f"{name}: {type(err).__name__}: {err}") from err
    for w in caught:
        text = str(w.message).lower()
        if "end of file" in text or "truncat" in text or "not enough" in text:
            raise ReadProblem("truncated_file", f"{name}: {w.message}")
    return st


#: local input files are decoded ahead (:func:`decode_ahead`) when together they hold at most this many bytes
DECODE_AHEAD_BYTES = 512 * 2**20
_AHEAD: dict[str, Future] = {}  # path -> whole decoded file (or its ReadProblem)


def decode_ahead(paths: list[str], budget: int = DECODE_AHEAD_BYTES) -> int:
    """Start decoding local waveform files in a background thread, for :func:`read_waveforms` to use.

    A process that picks one station-day (a batch job per station-day) spends seconds on imports and
    on building its runtimes before it reads its data; with this, its files are decoded meanwhile
    (libmseed decodes outside the GIL). Only when every path is a local file and together they hold at
    most ``budget`` bytes, since the decoded streams stay in memory for the life of the process (a
    file also pads its neighbouring days). Returns how many files are being decoded.
    """
    if not paths or any(is_url(p) or not Path(p).is_file() for p in paths):
        return 0
    if sum(Path(p).stat().st_size for p in paths) > budget:
        return 0
    todo = [(str(p), _AHEAD.setdefault(str(p), Future())) for p in paths if str(p) not in _AHEAD]
    threading.Thread(target=_decode, args=(todo,), name="seisforge-decode", daemon=True).start()
    return len(todo)


def _decode(todo: list[tuple[str, Future]]) -> None:
    for path, future in todo:
        try:
            future.set_result(_read(path, False, None, None, None))
        except BaseException as err:  # noqa: BLE001 - handed to the reader, who then reads the file itself
            future.set_exception(err)


def _decoded_ahead(path: str | Path, starttime: obspy.UTCDateTime | None,
                   endtime: obspy.UTCDateTime | None) -> obspy.Stream | None:
    """The records of a decoded-ahead file within ``[starttime, endtime]``, else None.

    Equal to ``obspy.read(path, starttime=..., endtime=...)``, which reads the records overlapping the
    span and then trims every trace to it (nearest sample) and drops the empty ones. A file that lies
    inside the span (a unit's own day file) is handed over whole and forgotten here (no copy; a later
    read decodes it again); otherwise the slice is copied (a neighbour's pad: a few seconds), since the
    caller may change its samples. A file whose decoding failed is read again by the caller, so its
    problem is reported exactly as without decoding ahead.
    """
    future = _AHEAD.get(str(path))
    if future is None:
        return None
    try:
        whole = future.result()
    except Exception as err:  # noqa: BLE001 - the caller reads the file itself and reports the problem
        log.debug("decoding %s ahead failed (%s); it is read again", path, err)
        return None
    if all((starttime is None or tr.stats.starttime >= starttime) and (endtime is None or tr.stats.endtime <= endtime)
           for tr in whole):
        _AHEAD.pop(str(path), None)
        return whole
    st = whole.slice(starttime, endtime, nearest_sample=True)
    for tr in st:
        tr.data = tr.data.copy()
    return st


def is_url(path: str | Path) -> bool:
    """True for an fsspec URL other than a local path (``s3://bucket/key``, ``gs://...``)."""
    text = str(path)
    return "://" in text and not text.startswith("file://")


#: object-storage files kept on local disk per process (a unit reads its own file and its neighbours')
OBJECT_CACHE_FILES = 16
_OBJECTS: OrderedDict[str, str] = OrderedDict()


def localize(path: str | Path) -> str:
    """A local path for ``path``: itself, or for a URL a local copy of the object.

    ObsPy's miniSEED and SAC readers need seekable local files, and a station-day file is small, so an
    object is fetched whole into a per-process temporary folder (removed at exit). The copy is keyed
    by URL and ETag (else size and modification time), so a changed object is fetched again, and only
    the last :data:`OBJECT_CACHE_FILES` copies are kept. Credentials and endpoints come from fsspec's
    configuration (``FSSPEC_S3``, ``--storage-options``). fsspec's ``simplecache`` is not used: it
    keys by URL alone and served a stale copy after an object was replaced.
    """
    if not is_url(path):
        return str(path)
    import fsspec

    try:
        fs, key = fsspec.core.url_to_fs(str(path))
        info = fs.info(key)
        tag = info.get("ETag") or info.get("etag") or f"{info.get('size')}-{info.get('LastModified')}"
        name = hashlib.sha256(f"{path}|{tag}".encode()).hexdigest()[:32]
        if name not in _OBJECTS:
            local = os.path.join(_object_dir(), name)
            fs.get_file(key, local + ".part")
            os.replace(local + ".part", local)
            _OBJECTS[name] = local
            while len(_OBJECTS) > OBJECT_CACHE_FILES:
                os.unlink(_OBJECTS.popitem(last=False)[1])
        _OBJECTS.move_to_end(name)
        return _OBJECTS[name]
    except FileNotFoundError as err:
        raise ReadProblem("storage_read_error", f"{path}: object not found") from err
    except Exception as err:  # noqa: BLE001 - network, credentials, missing protocol package
        raise ReadProblem("storage_read_error", f"{path}: {type(err).__name__}: {err}") from err


@functools.cache
def _object_dir() -> str:
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="seisforge-objects-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def mseed_truncation(path: str | Path) -> str | None:
    """Describe how a miniSEED file is cut short, or return None when it ends on a record boundary.

    libmseed (through ObsPy) reads the complete records of a truncated file and drops the partial last
    one without a warning, so a file cut inside a record would lose its end silently. Every record
    states its length in its fixed header (blockette 1000). When the file size is a multiple of the
    first record's length, the file is whole (the common case of one record length: no further
    reads). Otherwise the records are walked header by header; the file is truncated if the last
    record runs past its end or a header cannot be read.
    """
    from obspy.io.mseed.util import get_record_information

    size = Path(path).stat().st_size
    try:
        first = get_record_information(str(path))
    except Exception as err:  # noqa: BLE001 - a first header that cannot be parsed
        return f"unreadable first record header ({type(err).__name__}: {err})"
    if first["excess_bytes"] == 0:
        return None
    offset = 0
    with open(path, "rb") as fh:
        while offset < size:
            try:
                reclen = int(get_record_information(fh, offset=offset)["record_length"])
            except Exception:  # noqa: BLE001 - a partial fixed header at the end
                return f"record header at byte {offset} of {size} is incomplete"
            if offset + reclen > size:
                return f"last record (byte {offset}, {reclen} bytes) is cut at {size - offset} bytes"
            offset += reclen
    return None
