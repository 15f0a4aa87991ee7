"""GaMMA worker: runs in GaMMA's own virtual environment (``.venv-gamma``), never imports seisforge.

Contract (files in the folder given as the only argument):

- in: ``request.json`` ``{"config": GaMMA config dict}``, ``picks.parquet`` (``id, timestamp`` (UTC),
  ``type`` (p/s), ``prob``; the row number is the pick index), ``stations.parquet``
  (``id, x(km), y(km), z(km)``);
- out: ``events.parquet`` (``event_index, time`` (epoch s), ``x(km), y(km), z(km), gamma_score,
  num_p_picks, num_s_picks, sigma_time``), ``assignments.parquet`` (``pick_index, event_index,
  gamma_score``), then ``done.json``.

With ``--serve`` it reads one folder per line from stdin and answers ``ok`` or ``error <message>`` on
stdout, so one process (GaMMA imported and its numba code compiled once) serves many chunks; GaMMA's
own prints go to stderr. The 1-D eikonal tables are memoised per velocity configuration.
GaMMA writes an ``eikonal/`` folder into the working directory; the caller starts this script there.
"""

import json
import sys
from pathlib import Path


def main(folder: str) -> int:
    """Associate the request in ``folder``."""
    import numpy as np
    import pandas as pd
    from gamma.utils import association, estimate_eps

    d = Path(folder)
    config = json.loads((d / "request.json").read_text())["config"]
    picks = pd.read_parquet(d / "picks.parquet").reset_index(drop=True)
    stations = pd.read_parquet(d / "stations.parquet")
    config["bfgs_bounds"] = tuple(tuple(b) for b in config["bfgs_bounds"])
    if config.get("dbscan_eps") is None:
        config["dbscan_eps"] = float(estimate_eps(stations, float(np.mean(config["vel"]["p"]))))
    np.random.seed(0)  # GaMMA's BGMM initialisation draws from NumPy's global generator
    events, assignments = association(picks, stations, config, 0, config["method"])
    ev = pd.DataFrame(events, columns=["event_index", "time", "x(km)", "y(km)", "z(km)", "gamma_score",
                                       "num_p_picks", "num_s_picks", "sigma_time"])
    epoch = pd.Timestamp("1970-01-01")  # GaMMA's times are naive UTC ISO strings
    ev["time"] = (pd.to_datetime(ev["time"]) - epoch).dt.total_seconds() if len(ev) else []
    asg = pd.DataFrame(assignments, columns=["pick_index", "event_index", "gamma_score"])
    ev.to_parquet(d / "events.parquet")
    asg.to_parquet(d / "assignments.parquet")
    (d / "done.json").write_text(json.dumps({"events": len(ev), "assignments": len(asg)}))
    return 0


def _memoise_eikonal() -> None:
    """GaMMA recomputes the 1-D travel-time table on every call; compute each distinct one once."""
    import gamma.utils as gu

    original, cache = gu.initialize_eikonal, {}

    def cached(cfg):
        key = json.dumps({k: cfg[k] for k in ("vel", "h", "xlim", "ylim", "zlim")}, sort_keys=True)
        if key not in cache:
            cache[key] = original(dict(cfg))
        return dict(cache[key])

    gu.initialize_eikonal = cached


def serve() -> int:
    """Answer folders read from stdin, one per line, until EOF."""
    import contextlib

    _memoise_eikonal()
    reply = sys.stdout
    for line in sys.stdin:
        try:
            with contextlib.redirect_stdout(sys.stderr):
                main(line.strip())
            reply.write("ok\n")
        except Exception as err:  # noqa: BLE001 - reported to the caller, which raises
            reply.write("error " + f"{type(err).__name__}: {err}".replace("\n", " ") + "\n")
        reply.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[1] == "--serve" else main(sys.argv[1]))
