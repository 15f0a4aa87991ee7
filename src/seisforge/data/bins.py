"""The one definition of the distance, magnitude and SNR bins (manifests, rebalancing, benchmark tables).

A :class:`Bins` is a list of interior edges and one name per interval. Each edge says which side it
belongs to, so that the conventions of ``docs/datasets.md`` and ``docs/metrics.md`` are written down once:

- distance: ``local`` < 150 km, ``regional`` 150-1500 km (both edges included), ``teleseismic``
  > 1500 km;
- magnitude: ``<1``, ``1-2``, ``2-3``, ``3-4``, ``>=4``, each interval ``[a, b)``;
- SNR: ``<0 dB``, ``0-10 dB``, ``10-20 dB``, ``>=20 dB``, each interval ``[a, b)``;
- rebalancing edges from the configuration (:func:`interval_bins`): ``<a``, ``[a,b)``, ..., ``>=z``.

NaN is ``unknown``; infinities fall into the outermost bins. :attr:`Bins.order` lists the names in
numeric order followed by ``unknown``, for tables and figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Bins:
    """Named intervals between increasing ``edges``.

    Attributes
    ----------
    edges
        Interior edges, increasing.
    names
        One name per interval (``len(edges) + 1``), lowest first.
    edge_goes_up
        Per edge: True when a value equal to it belongs to the interval above (``[a, b)`` intervals),
        False when it belongs to the one below (``(a, b]``). Default: all True.
    """

    edges: tuple[float, ...]
    names: tuple[str, ...]
    edge_goes_up: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.names) != len(self.edges) + 1:
            raise ValueError(f"{len(self.edges)} edges need {len(self.edges) + 1} names, got {self.names}")
        if list(self.edges) != sorted(self.edges):
            raise ValueError(f"bin edges must be increasing, got {self.edges}")
        if self.edge_goes_up is not None and len(self.edge_goes_up) != len(self.edges):
            raise ValueError("edge_goes_up needs one flag per edge")

    @property
    def order(self) -> tuple[str, ...]:
        """The names in numeric order, then ``unknown``."""
        return (*self.names, UNKNOWN)

    def label(self, values) -> np.ndarray:
        """Bin name per value (object array); NaN (or a non-numeric value) is ``unknown``."""
        v = _as_float(values)
        up = self.edge_goes_up or (True,) * len(self.edges)
        idx = np.zeros(len(v), dtype=np.int64)
        for edge, goes_up in zip(self.edges, up):
            idx += (v >= edge) if goes_up else (v > edge)
        out = np.asarray(self.names, dtype=object)[idx]
        out[np.isnan(v)] = UNKNOWN
        return out


def _as_float(values) -> np.ndarray:
    """``values`` as a float array; entries that are not numbers become NaN."""
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        return arr.astype(float).ravel()
    return pd.to_numeric(pd.Series(arr.ravel()), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def interval_bins(edges) -> Bins:
    """``[a, b)`` bins named ``<a``, ``[a,b)``, ..., ``>=z`` (the rebalancing axes' bins)."""
    edges = tuple(float(e) for e in edges)
    names = ([f"<{edges[0]:g}"] + [f"[{a:g},{b:g})" for a, b in zip(edges[:-1], edges[1:])]
             + [f">={edges[-1]:g}"])
    return Bins(edges, tuple(names))


DISTANCE = Bins((150.0, 1500.0), ("local", "regional", "teleseismic"), edge_goes_up=(True, False))
MAGNITUDE = Bins((1.0, 2.0, 3.0, 4.0), ("<1", "1-2", "2-3", "3-4", ">=4"))
SNR = Bins((0.0, 10.0, 20.0), ("<0 dB", "0-10 dB", "10-20 dB", ">=20 dB"))

#: The binned axes of the benchmark's per-bin tables, by their ``by`` name.
BENCH_BINS = {"distance": DISTANCE, "magnitude": MAGNITUDE, "snr": SNR}


def ordered(labels, bins: Bins | None = None) -> list[str]:
    """The distinct ``labels`` in the order of ``bins`` (unlisted labels after, as text); without
    ``bins`` (e.g. dataset names) in text order."""
    labels = {str(lab) for lab in labels}
    rank = {name: i for i, name in enumerate(bins.order)} if bins is not None else {}
    return sorted(labels, key=lambda lab: (rank.get(lab, len(rank)), lab))
