"""The selected model of a seisforge training run: the ``run:DIR`` model spec.

A finished run keeps its selected model in ``RUN_DIR/best``: the SeisBench pair ``model.json`` +
``model.pt`` (plus ``model.safetensors``) and ``seisforge.json``, which names the SeisBench class and the
pair's prefix. Those files are all this loader reads; it needs no training code.
"""

from __future__ import annotations

import json
from pathlib import Path

from seisforge.errors import DataError
from seisforge.models.loaded import LoadedModel
from seisforge.models.seisbench_pickers import load_pair, seisbench_class
from seisforge.paths import resolve_under


def load_run_dir(run_dir: str | Path) -> LoadedModel:
    """Load the selected model of a seisforge run (``RUN_DIR/best``) in eval mode, ``weights_only``."""
    best = Path(run_dir) / "best"
    info_path = best / "seisforge.json"
    if not info_path.is_file():
        raise DataError(f"{run_dir} is not a finished seisforge run (no best/seisforge.json)")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        name, prefix = info["class"], info["seisbench_prefix"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"{info_path} is not a seisforge model description ({type(err).__name__}: {err})") from err
    model = load_pair(seisbench_class(name), resolve_under(best, prefix), None)
    model.eval()
    return LoadedModel(model, source=f"run:{run_dir}", spec=f"run:{run_dir}")
