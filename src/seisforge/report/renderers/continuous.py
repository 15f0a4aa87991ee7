"""Continuous picks (``seisforge pick`` output folders): counts, timeline, run report, a waveform strip.

The strip shows one station-hour (``--station``/``--hour``; default the busiest station-hour) read from
the input recorded in the folder's ``run.json`` through the same readers ``pick`` uses
(:mod:`seisforge.data.continuous.sources`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.report import page
from seisforge.report.core import Context, Section, esc, register

log = logging.getLogger(__name__)
PHASE_COLORS = {"P": "#0072B2", "S": "#D55E00"}


def counts_table(picks: pd.DataFrame) -> str:
    """Picks per station-day and phase (sortable)."""
    if picks.empty:
        return page.note("No picks.")
    c = picks.groupby(["station", "day", "phase"]).size().unstack("phase", fill_value=0)
    rows = [[st, day] + [int(r.get(ph, 0)) for ph in ("P", "S")] + [int(r.sum())]
            for (st, day), r in c.iterrows()]
    return page.table(["station", "day", "P picks", "S picks", "total"], rows, table_id="station-days")


def timeline_figure(picks: pd.DataFrame):
    """Picks per hour per station (P solid, S dashed), UTC."""
    from seisforge.bench.report import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 3.4))
    hours = picks["peak_time"].dt.floor("h")
    grid = pd.date_range(hours.min(), hours.max(), freq="h")
    for k, st in enumerate(sorted(picks["station"].unique())):
        for ph, ls in (("P", "-"), ("S", "--")):
            sel = (picks["station"] == st) & (picks["phase"] == ph)
            n = hours[sel].value_counts().reindex(grid, fill_value=0)
            ax.step(grid, n.to_numpy(), ls, where="post", color=f"C{k % 8}", label=f"{st} {ph}")
    ax.set_xlabel("time (UTC, hourly bins)")
    ax.set_ylabel("picks per hour")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=4)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def busiest_hour(picks: pd.DataFrame) -> tuple[str, pd.Timestamp]:
    """(station, hour start) with the most picks (ties: first in time)."""
    key = picks.assign(hour=picks["peak_time"].dt.floor("h")).groupby(["station", "hour"]).size()
    st, hour = key.sort_index().idxmax()
    return str(st), hour


def _stream(run: dict, station: str, hour: pd.Timestamp):
    """Waveforms of ``station`` for ``hour`` from the run's recorded input (files or SDS)."""
    import obspy

    from seisforge.data.continuous.sources import StationDay, index_files, load_unit

    args = run.get("args", {})
    day = str(hour.date())
    if args.get("input"):
        units = [u for u in index_files(list(args["input"]), 0.0).units if u.station == station and u.day == day]
    elif args.get("sds"):
        units = [StationDay(station=station, day=day, kind="sds", root=args["sds"], channel=args.get("channel", "*"))]
    else:
        raise ValueError("the run read an FDSN service; the report does not fetch data")
    if not units:
        raise ValueError(f"no recorded input holds {station} on {day}")
    st = load_unit(units[0], 0.0, [])
    t0 = obspy.UTCDateTime(hour.to_pydatetime())
    return st.slice(t0, t0 + 3600)


def strip_figure(stream, picks: pd.DataFrame, station: str, hour: pd.Timestamp):
    """The station-hour's components (normalised, offset) with pick peak times marked."""
    from seisforge.bench.report import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 3.6))
    t0 = hour.timestamp()
    for k, tr in enumerate(sorted(stream, key=lambda t: t.stats.channel)):
        t = tr.times() + tr.stats.starttime.timestamp - t0
        y = tr.data.astype(float)
        y = (y - y.mean()) / (np.max(np.abs(y - y.mean())) or 1.0)
        ax.plot(t / 60, y / 2.2 - 1.1 * k, lw=0.4, color="0.25")
        ax.text(-0.5, -1.1 * k, tr.stats.channel, ha="right", va="center", fontsize=8)
    for ph, color in PHASE_COLORS.items():
        sel = picks[picks["phase"] == ph]
        for i, pt in enumerate(sel["peak_time"]):
            ax.axvline((pt.timestamp() - t0) / 60, color=color, lw=0.9, alpha=0.8, label=f"{ph} pick" if i == 0 else None)
    ax.set_xlim(0, 60)
    ax.set_yticks([])
    ax.set_xlabel(f"minutes after {hour:%Y-%m-%d %H:00} UTC")
    ax.set_title(f"{station}: {len(picks)} picks in this hour")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def _hour(text: str) -> pd.Timestamp:
    """``--hour`` (an ISO UTC time such as ``2024-01-01T05``) floored to the hour."""
    from seisforge.errors import ConfigError

    try:
        t = pd.Timestamp(text)
    except ValueError as err:
        raise ConfigError(f"--hour {text!r}: not a time (use e.g. 2024-01-01T05)") from err
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).floor("h")


def _report_html(rep: dict) -> str:
    rows = [["processed", "", rep.get("processed", 0)]]
    for kind in ("skipped", "failed", "handled"):
        rows += [[kind, why, int(n)] for why, n in sorted((rep.get(kind) or {}).items())]
    return page.table(["outcome", "why", "count"], rows, table_id="pick-run-report")


def pick_dir_html(path: Path, ctx: Context) -> str:
    from seisforge.deploy.store import read_picks

    run = json.loads((path / "run.json").read_text())
    rep = json.loads((path / "run_report.json").read_text()) if (path / "run_report.json").is_file() else {}
    picks = read_picks(path)
    s = run.get("settings", {})
    parts = [page.heading(f"Pick folder {path.name}"),
             page.note(f"Model {esc(s.get('model'))} ({esc(s.get('weights') or s.get('pretrained') or '')}); "
                       f"thresholds P {esc(s.get('P_threshold'))}, S {esc(s.get('S_threshold'))}; "
                       f"{len(picks)} picks."),
             page.heading("Run report") + _report_html(rep),
             page.heading("Picks per station-day") + counts_table(picks)]
    if picks.empty:
        return "".join(parts)
    parts.append(page.figure(timeline_figure(picks), "Pick rate: picks per hour and station, P solid, S dashed."))
    station, hour = busiest_hour(picks)
    station = ctx.options.get("station") or station
    if ctx.options.get("hour"):
        hour = _hour(ctx.options["hour"])
    sel = picks[(picks["station"] == station) & (picks["peak_time"].dt.floor("h") == hour)]
    try:
        fig = strip_figure(_stream(run, station, hour), sel, station, hour)
        parts.append(page.figure(fig, f"Waveform strip of {esc(station)}, {hour:%Y-%m-%d %H:00}–{hour:%H}:59 UTC "
                                      "(each component normalised to its peak), with the pick peak times. "
                                      "Choose another with <code>--station</code> and <code>--hour</code>."))
    except Exception as err:  # noqa: BLE001 - missing input must not break the report
        parts.append(page.note(f"No waveform strip for {esc(station)} {hour}: {esc(err)}"))
    return "".join(parts)


@register
class ContinuousRenderer:
    kind = "continuous"
    title = "Continuous picks"
    order = 40

    def detect(self, path: Path) -> bool:
        return path.is_dir() and (path / "run.json").is_file() and (path / "picks").is_dir()

    def render(self, paths: list[Path], ctx: Context) -> Section:
        sec = Section(self.kind, self.title)
        for p in paths:
            sec.add(pick_dir_html(p, ctx))
        return sec
