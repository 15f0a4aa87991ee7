"""Messy-archive handling before SeisBench's own stream rules, every case counted.

Order of the steps (each counted under the reason code in brackets, see ``docs/deploy.md``):

1. Channels whose component is not one the model uses (e.g. ``HHH`` hydrophone) are set aside
   [``channel_not_used``]; SeisBench ignores them too.
2. If an instrument has several channel sets (``HH?`` and ``EH?``), the one with most model
   components (then highest rate) is used [``extra_channel_set_ignored``].
3. NaN/inf samples become gaps on every component of their instrument [``nan_samples``, seconds
   in ``notes.nan_seconds``]; they are never zero-filled, and no window covers them.
4. A channel recorded at several sampling rates is resampled to the model rate piecewise before
   merging (ObsPy cannot merge mixed rates) [``mixed_sampling_rate``]; other channels are resampled by
   SeisBench's own rule [``resampled``].
5. Gaps and overlaps are counted [``gap``, ``overlap``]; overlaps with identical samples are merged
   (``merge(-1)`` as in SeisBench). Where records disagree, only the disputed time span is cut out
   (it becomes a gap) [``overlap_conflict_removed``, seconds in ``notes``]; SeisBench would drop
   every record involved.
6. Missing components are zero-filled by SeisBench's non-strict rule [``handled: missing_component``],
   or, with ``--strict``, time spans without all components are not picked
   [``skipped: missing_component``]; Z12 channels are used as ZNE [``z12_as_zne``].
7. Continuous pieces shorter than the model window cannot be picked [``segment_shorter_than_window``,
   skipped, with seconds in ``notes``].

Before these steps, when the model has a model card, :func:`check_against_card` checks every instrument
of the stream against it (:func:`seisforge.models.card.check_card_against_data`): an instrument at another
sampling rate is resampled (step 4) and counted [``handled: card_resampled``]; one lacking a horizontal
component is zero-filled by step 6 and counted [``handled: card_missing_horizontal``]; one lacking the
vertical or the hydrophone the card requires cannot be matched and is not picked [``skipped:
card_component_mismatch``, with the card's rule logged]; ``notes.card_checked_instruments`` counts the
instruments checked.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np
import obspy

from seisforge.runinfo import RunReport

log = logging.getLogger(__name__)

_FLEX = {"1": "N", "2": "E"}


def _nonfinite_spans(tr: obspy.Trace) -> list[tuple[float, float]]:
    """``(first bad sample time, last bad sample time + delta)`` of each run of NaN/inf samples."""
    data = np.asarray(tr.data)
    if data.dtype.kind != "f":
        return []
    bad = ~np.isfinite(data)
    if not bad.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], bad.astype(np.int8), [0]])))
    t0, dt = tr.stats.starttime.timestamp, tr.stats.delta
    return [(t0 + a * dt, t0 + b * dt) for a, b in zip(edges[::2], edges[1::2])]


def _drop_span(tr: obspy.Trace, ta: float, tb: float) -> list[obspy.Trace]:
    """The pieces of ``tr`` outside ``[ta, tb)`` (samples within half a sample of the span go too)."""
    dt, start, n = tr.stats.delta, tr.stats.starttime.timestamp, tr.stats.npts
    lo = int(np.floor(round((ta - start) / dt - 0.5, 6))) + 1
    hi = int(np.ceil(round((tb - start) / dt - 0.5, 6)))
    lo, hi = max(lo, 0), min(hi, n)
    if lo >= hi:
        return [tr]
    pieces = []
    for a, b in ((0, lo), (hi, n)):
        if b > a:
            piece = tr.copy()  # NaN spans are rare: the extra copy is not worth a hand-built header
            piece.data = np.asarray(tr.data)[a:b].copy()
            piece.stats.starttime = tr.stats.starttime + a * dt
            pieces.append(piece)
    return pieces


def _cut_conflicts(st: obspy.Stream) -> tuple[obspy.Stream, float]:
    """Cut the time spans where records of one channel overlap with different samples.

    ``merge(-1)`` has already merged identical overlaps, so any remaining overlap disagrees. SeisBench
    would drop every record involved; here only the disputed span is removed from each of them.
    """
    by_id: dict[str, list[obspy.Trace]] = defaultdict(list)
    for tr in st:
        by_id[tr.id].append(tr)
    out = obspy.Stream()
    total = 0.0
    for traces in by_id.values():
        traces.sort(key=lambda t: t.stats.starttime)
        spans = []
        for i, a in enumerate(traces):
            for b in traces[i + 1:]:
                t0, t1 = max(a.stats.starttime, b.stats.starttime), min(a.stats.endtime, b.stats.endtime)
                if t1 >= t0:
                    spans.append((t0, t1))
        if not spans:
            out.extend(traces)
            continue
        total += sum(t1 - t0 for t0, t1 in spans)
        for tr in traces:
            pieces = [tr]
            for t0, t1 in spans:
                nxt = []
                for p in pieces:
                    dt = p.stats.delta
                    left = p.slice(endtime=t0 - dt / 2) if p.stats.starttime < t0 else None
                    right = p.slice(starttime=t1 + dt / 2) if p.stats.endtime > t1 else None
                    if p.stats.endtime < t0 or p.stats.starttime > t1:
                        nxt.append(p)
                        continue
                    nxt.extend(x for x in (left, right) if x is not None and x.stats.npts > 0)
                pieces = nxt
            out.extend([p.copy() for p in pieces])
    return out, float(total)


def _component(tr: obspy.Trace, flexible: bool) -> str:
    c = tr.stats.channel[-1:] if tr.stats.channel else ""
    return _FLEX.get(c, c) if flexible else c


def sanitize(
    stream: obspy.Stream,
    model,
    report: RunReport,
    key: str,
    strict: bool = False,
    flexible: bool = True,
) -> obspy.Stream:
    """Apply the documented clean-up steps to one unit's stream and count each case in ``report``.

    Parameters
    ----------
    stream
        Raw traces of one unit (modified copies are returned; the input is not changed).
    model
        The SeisBench model (component order, sampling rate, window length).
    report
        Per-unit report; reasons are counted with ``key`` as example.
    key
        Unit key for the report examples.
    strict, flexible
        SeisBench's ``strict`` and ``flexible_horizontal_components`` arguments.
    """
    order = model.component_order
    kept = drop_unused_components(stream, order, flexible, report, key)
    st = keep_one_channel_set(kept, flexible, report, key)
    st = nonfinite_to_gaps(st, report, key)
    resample_mixed_rates(st, model, report, key)
    unify_dtypes(st)
    st = merge_gaps_and_overlaps(st, report, key)
    instruments = count_missing_components(st, order, strict, flexible, report, key)
    count_short_segments(st, instruments, model, report, key)
    return st


def check_against_card(stream: obspy.Stream, card, report: RunReport, key: str,
                       flexible: bool = True) -> obspy.Stream:
    """Check each instrument of ``stream`` against the model card ``card`` and count the outcome (see
    the module docstring); returns the stream without the instruments whose components cannot be matched."""
    from seisforge.errors import DataError
    from seisforge.models.card import check_card_against_data

    comps: dict[str, set] = defaultdict(set)
    rates: dict[str, set] = defaultdict(set)
    for tr in stream:
        comps[_instrument(tr)].add(_component(tr, flexible))
        rates[_instrument(tr)].add(float(tr.stats.sampling_rate))
    dropped = set()
    for inst, have in comps.items():
        order = "".join(sorted(have))
        try:
            checks = [check_card_against_data(card, rate, order, source=f"{key}:{inst}")
                      for rate in sorted(rates[inst])]
        except DataError as err:
            report.skip("card_component_mismatch", f"{key}:{inst}")
            log.warning("%s", err)
            dropped.add(inst)
            continue
        if any(c.resample_from is not None for c in checks):
            report.handle("card_resampled", f"{key}:{inst}")
        if checks[0].zero_filled:
            report.handle("card_missing_horizontal", f"{key}:{inst}:{''.join(checks[0].zero_filled)}")
    report.notes["card_checked_instruments"] = report.notes.get("card_checked_instruments", 0) + len(comps)
    return obspy.Stream([tr for tr in stream if _instrument(tr) not in dropped])


def _instrument(tr: obspy.Trace) -> str:
    """``NET.STA.LOC`` of a trace."""
    return tr.id.rsplit(".", 1)[0]


def drop_unused_components(stream: obspy.Stream, order: str, flexible: bool, report: RunReport,
                           key: str) -> obspy.Stream:
    """Step 1: copies of the traces whose component the model uses; the others are counted."""
    kept = obspy.Stream()
    for tr in stream:
        if _component(tr, flexible) in order:
            kept.append(tr.copy())
        else:
            report.skip("channel_not_used", f"{key}:{tr.id}")
    return kept


def keep_one_channel_set(st: obspy.Stream, flexible: bool, report: RunReport, key: str) -> obspy.Stream:
    """Step 2: per instrument, the channel set with most model components (then highest rate, then name)."""
    sets: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    rates: dict[tuple[str, str], float] = {}
    for tr in st:
        inst = _instrument(tr)
        prefix = tr.stats.channel[:-1]
        sets[inst][prefix].add(_component(tr, flexible))
        rates[(inst, prefix)] = max(rates.get((inst, prefix), 0.0), tr.stats.sampling_rate)
    chosen = {
        inst: max(pref, key=lambda p: (len(pref[p]), rates[(inst, p)], p)) for inst, pref in sets.items()
    }
    out = obspy.Stream()
    for tr in st:
        if tr.stats.channel[:-1] == chosen[_instrument(tr)]:
            out.append(tr)
        else:
            report.skip("extra_channel_set_ignored", f"{key}:{tr.id}")
    return out


def nonfinite_to_gaps(st: obspy.Stream, report: RunReport, key: str) -> obspy.Stream:
    """Step 3: NaN/inf spans become gaps on every component of their instrument, never zeros.

    A span of NaN on one component only would otherwise become a span where that component is
    zero-filled (SeisBench's non-strict rule for a component missing inside a block), and windows
    over it could pick. Cutting the span from all components of the instrument makes it a gap as
    SeisBench treats gaps: the block is split there and no window covers it.
    """
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for tr in st:
        found = _nonfinite_spans(tr)
        if found:
            bad = int((~np.isfinite(np.asarray(tr.data))).sum())
            report.handle("nan_samples", f"{key}:{tr.id}", n=bad)
            report.notes["nan_seconds"] = round(
                report.notes.get("nan_seconds", 0.0) + sum(b - a for a, b in found), 3)
            spans[_instrument(tr)].extend(found)
    out = obspy.Stream()
    for tr in st:
        pieces = [tr]
        for ta, tb in spans.get(_instrument(tr), []):
            pieces = [q for p in pieces for q in _drop_span(p, ta, tb)]
        out.extend([p for p in pieces if p.stats.npts > 0])
    return out


def resample_mixed_rates(st: obspy.Stream, model, report: RunReport, key: str) -> None:
    """Step 4: a channel recorded at several rates is resampled to the model rate piecewise, in place.

    ObsPy cannot merge mixed rates. Other channels off the model rate are only counted; SeisBench's own
    rule resamples them later.
    """
    fs_model = model.sampling_rate
    by_id: dict[str, set] = defaultdict(set)
    for tr in st:
        by_id[tr.id].add(tr.stats.sampling_rate)
    for cid, fss in sorted(by_id.items()):
        if len(fss) > 1:
            report.handle("mixed_sampling_rate", f"{key}:{cid}")
            sub = obspy.Stream([tr for tr in st if tr.id == cid])
            model.resample(sub, fs_model, zerophase=True)
        elif fs_model is not None and next(iter(fss)) != fs_model:
            report.handle("resampled", f"{key}:{cid}")


def unify_dtypes(st: obspy.Stream) -> None:
    """Cast the pieces of a channel with mixed dtypes to float64, in place (exact for int32/float32).

    ObsPy merges only equal dtypes.
    """
    dtypes: dict[str, set] = defaultdict(set)
    for tr in st:
        dtypes[tr.id].add(tr.data.dtype)
    for tr in st:
        if len(dtypes[tr.id]) > 1:
            tr.data = tr.data.astype(np.float64)


def merge_gaps_and_overlaps(st: obspy.Stream, report: RunReport, key: str) -> obspy.Stream:
    """Step 5: count gaps and overlaps, merge identical overlaps, cut the disputed spans of the others."""
    for gap in st.get_gaps():
        report.handle("overlap" if gap[6] < 0 else "gap", f"{key}:{'.'.join(gap[:4])}")
    st.merge(-1)
    st, cut_s = _cut_conflicts(st)
    if cut_s:
        report.handle("overlap_conflict_removed", key)
        report.notes["overlap_conflict_seconds"] = round(
            report.notes.get("overlap_conflict_seconds", 0.0) + cut_s, 3)
    return st


def count_missing_components(st: obspy.Stream, order: str, strict: bool, flexible: bool, report: RunReport,
                             key: str) -> list[str]:
    """Step 6: count Z12 instruments and missing components (zero-filled, or skipped with ``strict``).

    Returns the instruments, in the order of their first trace.
    """
    comps: dict[str, set] = defaultdict(set)
    for tr in st:
        comps[_instrument(tr)].add(tr.stats.channel[-1])
    for inst, cs in comps.items():
        if cs & {"1", "2"}:
            report.handle("z12_as_zne", f"{key}:{inst}")
        have = {_FLEX.get(c, c) if flexible else c for c in cs}
        if set(order) - have:
            missing = "".join(sorted(set(order) - have))
            if strict:
                report.skip("missing_component", f"{key}:{inst}:{missing}")
            else:
                report.handle("missing_component", f"{key}:{inst}:{missing}")
    return list(comps)


def count_short_segments(st: obspy.Stream, instruments: list[str], model, report: RunReport, key: str) -> None:
    """Step 7: count the continuous pieces of each instrument shorter than one model window."""
    fs_model = model.sampling_rate
    min_s = (model.in_samples - 1) / (fs_model or st[0].stats.sampling_rate) if len(st) else 0.0
    for inst in instruments:
        spans = sorted(
            (tr.stats.starttime.timestamp, tr.stats.endtime.timestamp)
            for tr in st if _instrument(tr) == inst
        )
        merged: list[list[float]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1] + 1.5 / (fs_model or 1.0):
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        short = [b - a for a, b in merged if b - a < min_s]
        if short:
            report.skip("segment_shorter_than_window", f"{key}:{inst}", n=len(short))
            report.notes["short_segment_seconds"] = round(
                report.notes.get("short_segment_seconds", 0.0) + float(sum(short)), 3
            )
