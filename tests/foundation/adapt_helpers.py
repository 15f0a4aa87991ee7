"""Helpers of the adaptation-run tests: tiny configs and running ``seisforge adapt``."""

from __future__ import annotations

from pathlib import Path

import yaml

from seisforge.cli import main


def adapt_config(tmp: Path, data: Path, base: str, method: str = "lora", **extra) -> Path:
    """Write a tiny deterministic adaptation config (2 epochs of 2 steps of 8 windows) and return its path."""
    cfg = {"name": "ad", "seed": 0, "deterministic": True, "base": base, "adapt": {"method": method, "rank": 2},
           "data": {"path": str(data)}, "labels": {"sigma": 20}, "optim": {"lr": 1e-3},
           "train": {"epochs": 2, "batch_size": 8, "steps_per_epoch": 2, "patience": 5},
           "run": {"root": str(tmp / "runs")}, **extra}
    path = tmp / f"{method}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_adapt(config: Path, *args: str) -> Path:
    """``seisforge adapt CONFIG ARGS`` (must succeed); the newest run directory."""
    assert main(["adapt", str(config), *args]) == 0
    root = Path(yaml.safe_load(config.read_text())["run"]["root"])
    return max(root.iterdir(), key=lambda p: p.stat().st_mtime)
