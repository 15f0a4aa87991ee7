"""Safe waveform file reading: an explicit format whitelist, corrupt/truncated files reported.

ObsPy's format autodetection includes a ``PICKLE`` reader, so user files are never passed to
``obspy.read`` without a format: each file is checked against the whitelisted formats' own
detectors (miniSEED, SAC) and read with that format only.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import obspy

from seisforge.errors import ConfigError

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
        ``unknown_format`` (not miniSEED/SAC), ``corrupt_file`` (the reader failed) or
        ``truncated_file`` (the reader reported an unexpected end of file; the whole file is skipped
        rather than using a partial record set).
    """
    errors: list[str] = []
    fmt = fmt or detect_format(path, errors=errors)
    if fmt is None:
        raise ReadProblem("unknown_format", f"{path}: not miniSEED or SAC" + "".join(f"; {e}" for e in errors))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            st = obspy.read(str(path), format=fmt, headonly=headonly, starttime=starttime, endtime=endtime)
        except Exception as err:  # noqa: BLE001 - any reader failure is a corrupt file
            raise ReadProblem("corrupt_file", f"{path}: {type(err).__name__}: {err}") from err
    for w in caught:
        text = str(w.message).lower()
        if "end of file" in text or "truncat" in text or "not enough" in text:
            raise ReadProblem("truncated_file", f"{path}: {w.message}")
    return st
