"""The selected model of a seisforge run: the ``run:DIR`` model spec.

Three kinds of run directory load here, with no training code:

- a ``seisforge train`` run (or a merged adaptation, ``seisforge adapt merge``): ``RUN_DIR/best`` holds the
  SeisBench pair ``model.json`` + ``model.pt`` (plus ``model.safetensors``) and ``seisforge.json``, which
  names the SeisBench class and the pair's prefix;
- a ``seisforge adapt`` run: ``best/seisforge.json`` has ``"kind": "adapt"``, the description of the base
  (:mod:`seisforge.models.adapt.base`) and the adapter file; the base is rebuilt and the adapter applied
  (:func:`seisforge.models.adapt.io.load_adapter`, which checks the base's class and weight hash);
- a ``seisforge pretrain`` run (``encoder.json``) holds an encoder without a task head: a clear error
  says to adapt it first.

When the run has a ``model_card.json`` it is read and checked against the loaded model (sampling rate,
window, component order, class order): a card that contradicts its weights is an error. The card rides
on the :class:`LoadedModel` so that callers can check it against their data
(:func:`seisforge.models.card.check_card_against_data`).
"""

from __future__ import annotations

import json
from pathlib import Path

from seisforge.errors import ConfigError, DataError
from seisforge.models.card import CARD_FILE, ModelCard, read_card
from seisforge.models.loaded import LoadedModel
from seisforge.models.seisbench_pickers import load_pair, seisbench_class
from seisforge.paths import resolve_under


def load_run_dir(run_dir: str | Path) -> LoadedModel:
    """Load the selected model of a seisforge run (``RUN_DIR/best``) in eval mode, ``weights_only``."""
    run_dir = Path(run_dir)
    best = run_dir / "best"
    info_path = best / "seisforge.json"
    if not info_path.is_file():
        if (run_dir / "encoder.json").is_file():
            raise ConfigError(f"{run_dir} is a pretrain run (an encoder without a task head); adapt it first: "
                              f"seisforge adapt CONFIG.yaml with base: pretrain:{run_dir}")
        raise DataError(f"{run_dir} is not a finished seisforge run (no best/seisforge.json)")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        name = info["class"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"{info_path} is not a seisforge model description ({type(err).__name__}: {err})") from err
    if info.get("kind") == "adapt":
        from seisforge.models.adapt.base import build_base
        from seisforge.models.adapt.io import load_adapter

        model = load_adapter(build_base(info["base"]), best / info["adapter"])
    else:
        model = load_pair(seisbench_class(name), resolve_under(best, info.get("seisbench_prefix", "")), None)
    model.eval()
    card = read_card(run_dir / CARD_FILE) if (run_dir / CARD_FILE).is_file() else None
    if card is not None:
        check_card_against_model(card, model, str(run_dir / CARD_FILE))
    return LoadedModel(model, source=f"run:{run_dir}", spec=f"run:{run_dir}", card=card)


def check_card_against_model(card: ModelCard, model, where: str) -> None:
    """Raise :class:`DataError` when the card and the loaded SeisBench model disagree on their input or classes."""
    ours = {"sampling_rate": float(model.sampling_rate), "window_samples": int(model.in_samples),
            "component_order": str(model.component_order), "labels": str(model.labels)}
    bad = [f"{k}: card {getattr(card, k)!r}, model {v!r}" for k, v in ours.items() if getattr(card, k) != v]
    if bad:
        raise DataError(f"{where} contradicts the model it describes ({'; '.join(bad)})")
