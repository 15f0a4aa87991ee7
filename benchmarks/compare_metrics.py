"""Compare the metric values of two run trees (for example two ``make demo`` outputs).

Used to show that a restructuring changed no result: every ``metrics.json`` below ``A`` is matched with
the file at the same relative path below ``B``, and the numbers in ``metrics``, ``ci95``,
``thresholds``, ``counts`` and ``bins`` must be equal (NaN equals NaN). Paths, versions and timings may
differ. Exit status 0 when every value is equal, 1 otherwise, 2 when the trees hold different files.

    python benchmarks/compare_metrics.py runs/demo_before runs/demo
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

KEYS = ("metrics", "ci95", "thresholds", "counts", "bins")


def flatten(value: object, prefix: str = "") -> dict[str, object]:
    """Nested dicts and lists as ``{"a.b.0": leaf}``."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return {prefix: value}
    out: dict[str, object] = {}
    for key, sub in items:
        out.update(flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
    return out


def same(a: object, b: object) -> bool:
    """Equal leaves; two NaNs (float or null) count as equal."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def compare_file(a: Path, b: Path) -> list[str]:
    """Differences between the result sections of two metrics files."""
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    fa = flatten({k: da.get(k) for k in KEYS})
    fb = flatten({k: db.get(k) for k in KEYS})
    return [f"{key}: {fa.get(key)!r} != {fb.get(key)!r}" for key in sorted(set(fa) | set(fb))
            if not same(fa.get(key), fb.get(key))]


def main(argv: list[str] | None = None) -> int:
    """Compare every ``metrics.json`` of two trees and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    files_a = {p.relative_to(args.a) for p in args.a.rglob("metrics.json")}
    files_b = {p.relative_to(args.b) for p in args.b.rglob("metrics.json")}
    if not files_a or files_a != files_b:
        print(f"different metrics files: only in A {sorted(map(str, files_a - files_b))}, "
              f"only in B {sorted(map(str, files_b - files_a))}")
        return 2
    bad = 0
    for rel in sorted(files_a):
        diffs = compare_file(args.a / rel, args.b / rel)
        n = len(flatten({k: json.loads((args.a / rel).read_text()).get(k) for k in KEYS}))
        print(f"{rel}: {n} values, {len(diffs)} different")
        for line in diffs[:20]:
            print("   ", line)
        bad += bool(diffs)
    print("identical" if not bad else f"{bad} file(s) differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
