"""Simulation cost of the CTF simulators: cell-updates per second.

For the finite-difference simulators (global, crustal) a cell-update is one grid point advanced by one
time step; for the analytic DAS synthesis it is one (channel, row, wave component) term.

Usage: ``python benchmarks/bench_ctf_sim.py [--size tiny|small|paper] [--kinds global das crustal]``
"""

from __future__ import annotations

import argparse
import tempfile
import time

from seisforge.wavefield.simulate import simulate


def main() -> None:
    """Simulate each dataset once and print its cost."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="small", choices=["tiny", "small", "paper"])
    ap.add_argument("--kinds", nargs="+", default=["global", "das", "crustal"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"{'dataset':<8} {'size':<6} {'seconds':>8} {'cell-updates':>14} {'cell-updates/s':>15}")
    for kind in args.kinds:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            info = simulate(kind, tmp, size=args.size, seed=args.seed)
            wall = time.perf_counter() - t0
        sim_s = info["elapsed_s"]
        print(f"{kind:<8} {args.size:<6} {wall:>8.2f} {info['cell_updates']:>14,d} "
              f"{info['cell_updates'] / sim_s:>15.3g}")


if __name__ == "__main__":
    main()
