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

A structurally pruned or width-scaled model (``seisforge compress --method prune|distill``) has fewer
channels than its class builds by default; ``seisforge.json`` then says ``"resized": true`` and its
layers are resized to the stored tensor shapes before the weights load (:func:`resize_to_state`), so the
loader needs neither torch-pruning nor pickled modules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    elif info.get("resized"):
        model = _load_resized(seisbench_class(name), resolve_under(best, info["seisbench_prefix"]))
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


def save_best(model: Any, run_dir: str | Path, docstring: str, **info: Any) -> Path:
    """Write ``model`` as ``RUN_DIR/best`` (SeisBench pair, safetensors, ``seisforge.json`` with ``info``).

    ``info["resized"]`` is set when the model's tensor shapes differ from its class's defaults (a pruned
    model), so that :func:`load_run_dir` resizes the layers before loading.
    """
    from safetensors.torch import save_file

    best = Path(run_dir) / "best"
    best.mkdir(parents=True, exist_ok=True)
    model_cpu = model.to("cpu") if next(model.parameters()).device.type != "cpu" else model
    model_cpu.save(best / "model", weights_docstring=docstring)
    state = model_cpu.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(best / "model.safetensors"))
    fresh = type(model_cpu)(**json.loads((best / "model.json").read_text()).get("model_args", {})).state_dict()
    resized = any(k not in fresh or fresh[k].shape != v.shape for k, v in state.items())
    cls = type(model_cpu).__name__
    (best / "seisforge.json").write_text(json.dumps({
        "class": cls, "seisbench_prefix": "model", **info, **({"resized": True} if resized else {}),
        "load": f"seisforge.models.registry.load_model('run:{Path(run_dir)}')" if resized
        else f"seisbench.models.{cls}.load('{best / 'model'}')",
    }, indent=2, default=str))
    return best


def _load_resized(cls: Any, prefix: Path):
    """A SeisBench model built from ``prefix.json`` with its layers resized to ``prefix.safetensors``."""
    from safetensors.torch import load_file

    from seisforge.seisbench_compat import apply_weights_metadata

    meta = json.loads(prefix.with_suffix(".json").read_text())
    model = cls(**meta.get("model_args", {}))
    apply_weights_metadata(model, meta)
    state = load_file(str(prefix.with_suffix(".safetensors")))
    resize_to_state(model, state)
    model.load_state_dict(state)
    return model


def resize_to_state(model: Any, state: dict) -> None:
    """Give every parameter and buffer of ``model`` the shape it has in ``state`` (new, empty tensors).

    Written here because the channel counts are all a structurally pruned network changes: convolutions
    and batch norms compute from their tensors, and the size attributes are updated to match.
    """
    import torch

    for name, value in state.items():
        owner_name, _, attr = name.rpartition(".")
        owner = model.get_submodule(owner_name) if owner_name else model
        current = getattr(owner, attr, None)
        if current is None or current.shape == value.shape:
            continue
        if isinstance(current, torch.nn.Parameter):
            setattr(owner, attr, torch.nn.Parameter(torch.empty_like(value), requires_grad=current.requires_grad))
        else:
            owner.register_buffer(attr, torch.empty_like(value))
        _fix_size_attributes(owner)


def _fix_size_attributes(module: Any) -> None:
    import torch.nn as nn

    if isinstance(module, nn.modules.conv._ConvNd):
        w = module.weight
        if module.transposed:
            module.in_channels, module.out_channels = w.shape[0], w.shape[1] * module.groups
        else:
            module.out_channels, module.in_channels = w.shape[0], w.shape[1] * module.groups
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.num_features = module.weight.shape[0] if module.weight is not None else module.running_mean.shape[0]
    elif isinstance(module, nn.Linear):
        module.out_features, module.in_features = module.weight.shape
