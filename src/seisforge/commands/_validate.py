"""Argparse ``type=`` helpers: every numeric CLI option is checked here, at the CLI boundary.

Each helper turns the option's text into a value or raises :class:`argparse.ArgumentTypeError`, which
the CLI prints as one line naming the option (``seisforge: error: data synth: argument
--second-event-prob: ...``). Relations to a model's window (``pick --overlap`` against the model's
``in_samples``) are checked where the model is loaded (:func:`check_overlap`).
"""

from __future__ import annotations

import argparse
import math

from seisforge.errors import ConfigError

SEED_MAX = 2**32 - 1  # numpy's SeedSequence range; Python/torch seeds fit it too


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _ranged(kind: type, ok, rule: str, name: str, doc: str):
    """An argparse ``type=`` that parses ``kind`` and accepts values where ``ok(value)``."""

    def parse(text: str):
        value = _number(text, kind)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    parse.__name__, parse.__qualname__, parse.__doc__ = name, name, doc
    return parse


positive_int = _ranged(int, lambda v: v >= 1, "an integer >= 1", "positive_int",
                       "An integer >= 1 (batch sizes, sample counts, threads).")
nonneg_int = _ranged(int, lambda v: v >= 0, "an integer >= 0", "nonneg_int",
                     "An integer >= 0 (bootstrap resamples, retries, workers where 0 means in-process).")
seed = _ranged(int, lambda v: 0 <= v <= SEED_MAX, f"an integer in [0, {SEED_MAX}]", "seed",
               "A random seed: an integer in [0, 2**32 - 1], the range numpy, torch and Python all accept.")
positive_float = _ranged(float, lambda v: v > 0, "a number > 0", "positive_float",
                         "A finite number > 0 (sampling rates, tolerances, CPU shares).")
nonneg_float = _ranged(float, lambda v: v >= 0, "a number >= 0", "nonneg_float",
                       "A finite number >= 0 (overlaps, relative amplitudes).")
probability = _ranged(float, lambda v: 0 <= v <= 1, "a probability in [0, 1]", "probability",
                      "A probability in the closed interval [0, 1] (how often something is simulated).")
threshold = _ranged(float, lambda v: 0 < v < 1, "a threshold in (0, 1)", "threshold",
                    "A detection threshold in the open interval (0, 1): 0 would pick every sample, 1 none.")


def fractions(text: str) -> tuple[float, float, float]:
    """``train,dev,test`` fractions: three non-negative numbers summing to 1 (one parser:
    :func:`seisforge.data.splits.parse_fractions`)."""
    from seisforge.data.splits import parse_fractions

    try:
        return parse_fractions(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--fractions ")) from None


def name_list(text: str) -> tuple[str, ...]:
    """A comma-separated list of non-empty names (``dev,test``)."""
    items = tuple(x.strip() for x in text.split(","))
    if not items or any(not x for x in items):
        raise argparse.ArgumentTypeError(f"expected comma-separated non-empty names, got {text!r}")
    return items


def check_window(overlap: float | int | None, blinding: tuple[int, int] | None, in_samples: int) -> None:
    """Check ``pick --overlap`` and ``--blinding`` against the model's window of ``in_samples`` samples.

    Raises
    ------
    ConfigError
        An overlap (samples, or a fraction of the window) that is not smaller than the window, so no
        window would advance; or blinding that masks the whole window, so nothing could be picked.
    """
    if overlap is not None:
        samples = overlap if overlap >= 1 else int(overlap * in_samples)
        if samples >= in_samples:
            raise ConfigError(
                f"--overlap {overlap} must be smaller than the model's window of {in_samples} samples "
                "(give samples < window, or a fraction < 1)"
            )
    if blinding is not None and sum(blinding) >= in_samples:
        raise ConfigError(
            f"--blinding {blinding[0]} {blinding[1]} masks the whole window of {in_samples} samples; "
            "their sum must be smaller than the window"
        )
