"""Exceptions with clear messages; the CLI prints them without a traceback."""

from __future__ import annotations


class SeisforgeError(Exception):
    """A user-facing error: bad input, missing file, inconsistent configuration."""

    exit_code = 2


class DataError(SeisforgeError):
    """Input data that cannot be used as given (corrupt, missing columns, wrong shape)."""


class ConfigError(SeisforgeError):
    """A configuration value that is missing, of the wrong type, or unknown."""


class LeakageError(SeisforgeError):
    """Training and benchmark data overlap."""

    exit_code = 3


def first_line(err: BaseException) -> str:
    """``TypeName: first line of the message`` of a foreign exception, for one-line user errors
    (torch and zipfile messages run over several lines)."""
    text = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
