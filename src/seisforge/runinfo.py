"""Run bookkeeping shared by every long-running command.

- :func:`seed_everything` seeds Python, NumPy and torch; :func:`worker_init_fn` seeds loader workers.
- :func:`environment` records package versions, git commit, device and platform.
- :class:`RunReport` counts what was processed, skipped and failed, with reasons, and writes
  ``run_report.json``.
- :func:`sha256_file` / :func:`sha256_lines` hash inputs for provenance.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

PACKAGES = (
    "seisforge", "torch", "seisbench", "obspy", "numpy", "scipy", "pandas", "pyarrow",
    "scikit-learn", "h5py", "ray", "pydmd", "peft",
)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass


def worker_init_fn(worker_id: int) -> None:
    """Seed a DataLoader worker from torch's per-worker seed (set from the loader generator)."""
    import torch

    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def git_commit(path: Path | None = None) -> str | None:
    """Return the git commit of the source tree (``+dirty`` when modified), or None."""
    here = path or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True,
            text=True, timeout=5,
        ).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (None where a package is missing)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment(device: str | None = None, precision: str | None = None) -> dict[str, Any]:
    """Describe the software and hardware a run used."""
    versions = package_versions()
    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": versions,
        "git_commit": git_commit(),
        "command": sys.argv,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if device is not None:
        env["device"] = device
    if precision is not None:
        env["precision"] = precision
    return env


CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")


def cpu_flags() -> dict[str, bool]:
    """The CPU features that decide bf16/INT8 speed (from ``/proc/cpuinfo``; all False where unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    present = set(line.partition(":")[2].split())
    return {flag: flag in present for flag in CPU_FLAGS}


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_lines(lines: list[str]) -> str:
    """SHA-256 of newline-joined strings (e.g. a sorted trace-key list)."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()


@dataclass
class RunReport:
    """What a command processed, skipped and failed, and why.

    Use :meth:`skip` / :meth:`fail` with a short reason code and the item's key; counts per reason
    and the first ``max_examples`` keys per reason are kept. :meth:`write` stores JSON.
    """

    command: str
    processed: int = 0
    skipped: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    handled: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    max_examples: int = 20
    started: float = field(default_factory=time.time)

    def _example(self, kind: str, reason: str, key: str | None) -> None:
        if key is None:
            return
        lst = self.examples.setdefault(f"{kind}:{reason}", [])
        if len(lst) < self.max_examples:
            lst.append(str(key))

    def skip(self, reason: str, key: str | None = None, n: int = 1) -> None:
        """Count an item left out on purpose (documented handling)."""
        self.skipped[reason] += n
        self._example("skipped", reason, key)

    def fail(self, reason: str, key: str | None = None, n: int = 1) -> None:
        """Count an item that could not be processed."""
        self.failed[reason] += n
        self._example("failed", reason, key)

    def handle(self, reason: str, key: str | None = None, n: int = 1) -> None:
        """Count an item processed with a documented correction (e.g. resampled, dead channel kept)."""
        self.handled[reason] += n
        self._example("handled", reason, key)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "command": self.command,
            "processed": self.processed,
            "skipped": dict(self.skipped),
            "skipped_total": int(sum(self.skipped.values())),
            "failed": dict(self.failed),
            "failed_total": int(sum(self.failed.values())),
            "handled": dict(self.handled),
            "examples": self.examples,
            "notes": self.notes,
            "elapsed_s": round(time.time() - self.started, 3),
            "environment": environment(),
        }

    def write(self, path: str | Path) -> Path:
        """Write ``run_report.json`` (or the given file) and return its path."""
        path = Path(path)
        if path.is_dir() or path.suffix == "":
            path = path / "run_report.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=_json_default))
        return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def write_json(data: Any, path: str | Path) -> None:
    """Write JSON with NumPy-aware conversion; NaN is written as null."""
    Path(path).write_text(json.dumps(_nan_to_none(data), indent=2, default=_json_default))


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)) and not np.isfinite(obj):
        return None
    return obj
