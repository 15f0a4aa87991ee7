"""The adaptation methods, one module each, behind :class:`~seisforge.models.adapt.config.AdaptConfig`."""

from __future__ import annotations

from seisforge.errors import ConfigError
from seisforge.models.adapt.common import Method
from seisforge.models.adapt.config import METHOD_NAMES
from seisforge.models.adapt.methods import (
    adapter,
    bitfit,
    dora,
    full,
    ia3,
    linear_probe,
    lora,
    partial,
    prompt,
)

METHODS: dict[str, Method] = {m.METHOD.name: m.METHOD for m in (
    full, linear_probe, partial, lora, dora, bitfit, ia3, adapter, prompt)}
assert tuple(METHODS) == METHOD_NAMES, "methods registry and METHOD_NAMES disagree"


def get_method(name: str) -> Method:
    """The :class:`Method` called ``name`` (ConfigError listing the methods otherwise)."""
    if name not in METHODS:
        raise ConfigError(f"unknown adaptation method {name!r}; methods: {', '.join(METHODS)}")
    return METHODS[name]
