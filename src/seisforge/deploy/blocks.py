"""Stream -> continuous per-instrument blocks and their window offsets, by SeisBench's rules.

The stream-level steps (merge, ``annotate_stream_pre`` filter/resample, ``annotate_stream_validate``,
component mapping, grouping into continuous blocks) call the SeisBench model's own methods, so those
rules are exactly SeisBench's; the window offsets are computed as in SeisBench's
``_cut_fragments_array``. Only ``stream_to_array`` is re-implemented (:func:`group_array`), to write
straight into a reusable float32 buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import obspy

from seisforge import seisbench_compat as sbc
from seisforge.deploy.scratch import ScratchPool
from seisforge.errors import ConfigError


@dataclass
class Block:
    """One continuous block of one instrument, as SeisBench groups it."""

    trace_id: str  # NET.STA.LOC
    start_time: obspy.UTCDateTime
    data: np.ndarray  # (components, samples) float32
    sampling_rate: float
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))


@dataclass
class GroupedArray:
    """The fields of SeisBench's ``GroupedTraceData`` that the picker reads (for :mod:`~seisforge.deploy.lean`)."""

    start_time: obspy.UTCDateTime
    data: np.ndarray
    stations: list[str]
    component_order: str
    sampling_rate: float
    grouping: str


def window_offsets(n: int, in_samples: int, overlap: int) -> np.ndarray:
    """Start samples of the windows over ``n`` samples: every ``in_samples - overlap``, plus one at the end.

    As SeisBench's ``_cut_fragments_array``: a last window ending at the last sample is added when the
    stride leaves samples uncovered.
    """
    offsets = np.arange(0, n - in_samples + 1, in_samples - overlap)
    if len(offsets) and offsets[-1] + in_samples < n:
        offsets = np.concatenate([offsets, [n - in_samples]])
    return offsets.astype(np.intp)


def stream_blocks(model: Any, argdict: dict[str, Any], stream: obspy.Stream, pool: ScratchPool,
                  share_data: bool = False) -> list[Block]:
    """Group a stream into continuous per-instrument blocks with SeisBench's rules.

    The stream is copied; see :meth:`seisbench.models.WaveformModel.annotate` for the steps. The block
    arrays come from ``pool`` (which the caller resets).

    Parameters
    ----------
    model
        The SeisBench model (instrument grouping).
    argdict
        Annotate arguments (with SeisBench's defaults filled in by the model).
    stream
        The input traces.
    pool
        Where the block arrays are carved from.
    share_data
        Copy the traces but not their sample arrays, for models whose stream steps never write into
        samples (the lean path's: merging makes new arrays, anything else raises ``NotLean``); saves a
        station-day-sized copy. SeisBench copies the whole stream, so the default does too.
    """
    stream = obspy.Stream([obspy.Trace(tr.data, tr.stats.copy()) for tr in stream]) if share_data else stream.copy()
    stream.merge(-1)
    if len(stream) == 0:
        return []
    stream_args = dict(argdict)
    model.annotate_stream_pre(stream, stream_args)
    stream = model.annotate_stream_validate(stream, stream_args)
    if len(stream) == 0:
        return []
    fs = stream[0].stats.sampling_rate
    stream_args["sampling_rate"] = fs
    comp_dict, _ = sbc.build_comp_dict(model, stream, sbc.argdict_get(model, argdict, "flexible_horizontal_components"))
    groups = sbc.group_stream(model, stream, strict=sbc.argdict_get(model, argdict, "strict"),
                              min_length_s=(model.in_samples - 1) / fs, comp_dict=comp_dict)
    out = []
    for group in groups:
        gd = group_array(model, argdict, group, pool)
        in_samples, _ = sbc.in_pred_samples(model, gd)
        offsets = window_offsets(gd.data.shape[-1], in_samples, sbc.window_overlap(model, in_samples, stream_args))
        out.append(Block(trace_id=gd.stations[0], start_time=gd.start_time, data=gd.data, sampling_rate=fs,
                         offsets=offsets))
    return out


def group_array(model: Any, argdict: dict[str, Any], group: obspy.Stream, pool: ScratchPool) -> Any:
    """SeisBench's ``stream_to_array`` for one instrument group, written straight into float32.

    The same arithmetic as :meth:`seisbench.models.WaveformModel.stream_to_array` (start time,
    length, offsets, zero-filled gaps, mean ``t_offset``), but the samples go directly into a
    float32 array from ``pool`` instead of a fresh float64 array that is converted afterwards: the
    float64 array of a station-day is large, and allocating and converting it costs time every
    station-day (figures in ``docs/deploy.md``). The windows SeisBench feeds its model are float32
    either way; a test holds the two equal.
    """
    if getattr(model, "lean", False):  # deploy.lean: the same fields without importing SeisBench's models
        grouped: Any = GroupedArray
    else:
        from seisbench.models.base import GroupedTraceData as grouped
    comp_dict, comp_order = sbc.build_comp_dict(
        model, group, sbc.argdict_get(model, argdict, "flexible_horizontal_components"))
    stations = sorted({sbc.trace_id_without_component(model, tr) for tr in group})
    if len(stations) != 1:
        raise ConfigError(f"one instrument per block expected, got {stations}")
    fs = group[0].stats.sampling_rate
    t_start = min(tr.stats.starttime for tr in group)
    t_end = max(tr.stats.endtime for tr in group)
    n_samples = int((t_end - t_start) * fs) + 2 - 1  # SeisBench's +2 "fractional error" sample, then cut
    data = pool.take((len(comp_order), n_samples))
    data[:] = 0.0
    t_offsets = []
    for tr in group:
        if tr.id[-1] not in comp_dict:
            continue
        offset = int((tr.stats.starttime - t_start) * fs)
        data[comp_dict[tr.id[-1]], offset : offset + tr.data.size] = tr.data[: max(0, n_samples - offset)]
        t_offsets.append(tr.stats.get("t_offset", 0.0))
    return grouped(start_time=t_start + np.mean(t_offsets), data=data, stations=stations,
                            component_order=comp_order, sampling_rate=fs, grouping="instrument")
