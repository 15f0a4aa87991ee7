"""The selected model of a seisforge training run: the ``run:DIR`` model spec.

A finished run keeps its selected model in ``RUN_DIR/best``: the SeisBench pair ``model.json`` +
``model.pt`` (plus ``model.safetensors``) and ``seisforge.json``, which names the SeisBench class and the
pair's prefix. Those files are all this loader reads; it needs no training code.

A structurally pruned or width-scaled model (``seisforge compress --method prune|distill``) has fewer
channels than its class builds by default; its layers are resized to the stored tensor shapes before the
weights load (:func:`resize_to_state`), so the loader needs neither torch-pruning nor pickled modules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seisforge.errors import DataError
from seisforge.models.loaded import LoadedModel
from seisforge.models.seisbench_pickers import seisbench_class


def load_run_dir(run_dir: str | Path) -> LoadedModel:
    """Load the selected model of a seisforge run (``RUN_DIR/best``) in eval mode, ``weights_only``."""
    best = Path(run_dir) / "best"
    info_path = best / "seisforge.json"
    if not info_path.is_file():
        raise DataError(f"{run_dir} is not a finished seisforge run (no best/seisforge.json)")
    info = json.loads(info_path.read_text())
    cls = seisbench_class(info["class"])
    if info.get("resized"):
        model = _load_resized(cls, best / info["seisbench_prefix"])
    else:
        model = cls.load(best / info["seisbench_prefix"], weights_only=True, map_location="cpu")
    model.eval()
    return LoadedModel(model, source=f"run:{run_dir}", spec=f"run:{run_dir}")


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
