"""One configuration for every adaptation method."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from seisforge.errors import ConfigError

#: every method name, in the order the docs list them (the registry in ``methods`` must match)
METHOD_NAMES = ("full", "linear_probe", "partial", "lora", "dora", "bitfit", "ia3", "adapter", "prompt")


@dataclass
class AdaptConfig:
    """How to adapt a pretrained model to a task.

    Parameters
    ----------
    method
        One of :data:`METHOD_NAMES`.
    rank, alpha, dropout
        LoRA/DoRA rank, scaling numerator (the update is scaled by ``alpha / rank``) and dropout on the
        LoRA input; ``dropout`` is also the dropout inside residual adapters.
    target_modules
        Module names (or name suffixes such as ``"qkv"``) that LoRA, DoRA and IA3 wrap; None means every
        ``nn.Linear`` and ``nn.Conv1d`` of the body (never the head, which trains in full).
    top_k
        Blocks trained by ``partial``, counted from the top (output side).
    bottleneck
        Hidden width of residual adapters.
    n_prompts
        Prompt tokens for ``prompt``.
    train_head
        Train the task head (new for the task, so normally True); the head's parameters are reported
        separately in the accounting.
    """

    method: str
    rank: int = 8
    alpha: float = 16
    dropout: float = 0.0
    target_modules: list[str] | None = None
    top_k: int = 1
    bottleneck: int = 16
    n_prompts: int = 8
    train_head: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError for an unknown method or a bad value (naming the field)."""
        if self.method not in METHOD_NAMES:
            raise ConfigError(f"unknown adaptation method {self.method!r}; methods: {', '.join(METHOD_NAMES)}")
        for name in ("rank", "top_k", "bottleneck", "n_prompts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"AdaptConfig.{name} must be a positive integer, got {value!r}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or self.alpha <= 0:
            raise ConfigError(f"AdaptConfig.alpha must be a positive number, got {self.alpha!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"AdaptConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if self.target_modules is not None and (
                not isinstance(self.target_modules, (list, tuple)) or not self.target_modules
                or not all(isinstance(t, str) and t for t in self.target_modules)):
            raise ConfigError(f"AdaptConfig.target_modules must be a non-empty list of module names or None, "
                              f"got {self.target_modules!r}")
        if not isinstance(self.train_head, bool):
            raise ConfigError(f"AdaptConfig.train_head must be true or false, got {self.train_head!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON-ready)."""
        out = asdict(self)
        out["target_modules"] = list(self.target_modules) if self.target_modules is not None else None
        return out

    def to_json(self) -> str:
        """Canonical JSON (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdaptConfig:
        """Build from plain values; unknown keys -> ConfigError listing the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown AdaptConfig field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if "method" not in data:
            raise ConfigError(f"AdaptConfig needs a method; methods: {', '.join(METHOD_NAMES)}")
        return cls(**data)
