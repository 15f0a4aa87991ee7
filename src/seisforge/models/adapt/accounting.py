"""Honest parameter accounting for an adapted model: measured, not estimated.

The optimiser state is measured from a real ``torch.optim.AdamW`` after one step on zero-gradient clones
of the trainable parameters (same shapes, dtypes and devices, so the same state; clones keep the model
untouched): ``exp_avg`` + ``exp_avg_sq`` + ``step`` per parameter. The adapter size is the size of the
safetensors file :func:`~seisforge.models.adapt.io.save_adapter` writes.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seisforge.errors import ConfigError
from seisforge.models.adapt.common import INFO_ATTR, AdaptInfo, count_params
from seisforge.models.adapt.io import base_hash, save_adapter
from seisforge.models.adapt.methods import get_method


@dataclass
class ParamAccount:
    """Parameter and memory accounting of one adapted model.

    Attributes
    ----------
    method
        The adaptation method.
    total
        All parameters of the adapted model (base and added).
    trainable
        Trainable parameters, the head included.
    head
        Trainable parameters in the task head (new for the task, always trained when ``train_head``).
    added
        Parameters the method added to the base (LoRA/DoRA, IA3 scales, adapters, prompts).
    optimizer_state_bytes
        AdamW state measured after one step (exp_avg + exp_avg_sq + step).
    adapter_file_bytes
        Size of the safetensors adapter file.
    mergeable
        Whether the method folds into plain weights.
    unwrapped
        ``{layer: parameters}`` of targeted layers the method could not wrap (left frozen).
    """

    method: str
    total: int
    trainable: int
    head: int
    added: int
    optimizer_state_bytes: int
    adapter_file_bytes: int
    mergeable: bool
    unwrapped: dict[str, int] = field(default_factory=dict)

    @property
    def trainable_pct(self) -> float:
        """Trainable share of all parameters, in percent."""
        return 100.0 * self.trainable / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values, ``trainable_pct`` included."""
        return {**asdict(self), "trainable_pct": self.trainable_pct}

    def format(self) -> str:
        """A few lines for printing at start-up."""
        lines = [
            f"adaptation {self.method} ({'mergeable' if self.mergeable else 'not mergeable'})",
            f"  trainable {self.trainable:,} of {self.total:,} parameters ({self.trainable_pct:.3f}%), "
            f"of which the new task head {self.head:,}; added by the method {self.added:,}",
            f"  AdamW state {_size(self.optimizer_state_bytes)}; adapter file {_size(self.adapter_file_bytes)}",
        ]
        if self.unwrapped:
            frozen = ", ".join(f"{k} ({v:,})" for k, v in self.unwrapped.items())
            lines.append(f"  not wrapped, left frozen ({sum(self.unwrapped.values()):,} parameters): {frozen}")
        return "\n".join(lines)


def account(model: nn.Module, adapter_path: str | Path | None = None) -> ParamAccount:
    """The :class:`ParamAccount` of a model adapted by ``seisforge.models.adapt.apply``.

    Parameters
    ----------
    model
        The adapted model.
    adapter_path
        Its saved adapter file; None writes one to a temporary folder to measure it.
    """
    info: AdaptInfo | None = getattr(model, INFO_ATTR, None)
    if info is None:
        raise ConfigError("account() needs a model adapted with seisforge.models.adapt.apply")
    trainable = [p for p in model.parameters() if p.requires_grad]
    head = sum(p.numel() for name, p in model.named_parameters() if p.requires_grad and info.parts.in_head(name))
    total = count_params(model)
    return ParamAccount(
        method=info.cfg.method, total=total, trainable=sum(p.numel() for p in trainable), head=head,
        added=total - info.base_params, optimizer_state_bytes=adamw_state_bytes(trainable),
        adapter_file_bytes=_adapter_bytes(model, info, adapter_path),
        mergeable=get_method(info.cfg.method).mergeable, unwrapped=dict(info.unwrapped))


def adamw_state_bytes(params: list[torch.Tensor]) -> int:
    """Bytes of AdamW state after one step on zero-gradient clones of ``params``."""
    clones = [torch.zeros_like(p, requires_grad=True) for p in params]
    for c in clones:
        c.grad = torch.zeros_like(c)
    opt = torch.optim.AdamW(clones)
    opt.step()
    return sum(v.numel() * v.element_size() for state in opt.state.values() for v in state.values()
               if torch.is_tensor(v))


def _adapter_bytes(model: nn.Module, info: AdaptInfo, path: str | Path | None) -> int:
    """Size of the adapter file at ``path``, or of one written to a temporary folder."""
    if path is not None:
        return Path(path).stat().st_size
    with tempfile.TemporaryDirectory() as tmp:
        out = save_adapter(model, Path(tmp) / "adapter.safetensors", base_hash(model, info.cfg), info.cfg)
        return out.stat().st_size


def _size(n: int) -> str:
    """Bytes in B/KiB/MiB/GiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} GiB"
