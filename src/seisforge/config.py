"""Typed YAML configuration: one config system for every command.

Configs are dataclasses. :func:`load_config` reads YAML with ``yaml.safe_load``, applies
``--set key=value`` overrides (dotted keys, values parsed as YAML scalars) and converts the result
into the dataclass, rejecting unknown keys and wrong types with a message that names the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from seisforge.errors import ConfigError

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping safely.

    Parameters
    ----------
    path
        File to read.

    Returns
    -------
    dict
        The mapping (empty for an empty file).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a text (UTF-8) YAML file: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides in place and return ``data``.

    Values are parsed with ``yaml.safe_load`` so ``3``, ``1e-3``, ``true``, ``[1, 2]`` keep their types.
    """
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else ""
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_tp = args[0] if args else Any
        out = [_convert(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {k: _convert(vt, v, f"{where}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: must be one of {list(args)}, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise :class:`ConfigError`."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required key {f.name!r}")
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """Dataclass to plain dict (for ``config.resolved.yaml``)."""
    return dataclasses.asdict(obj)


def load_config(cls: type[T], path: str | Path | None, overrides: list[str] | None = None) -> T:
    """Load YAML ``path`` (optional), apply overrides, and convert to ``cls``."""
    data = load_yaml(path) if path is not None else {}
    apply_overrides(data, overrides)
    return from_dict(cls, data)


def load_run_config(cls: type[T], config: str | Path | None, resume: str | Path | None,
                    overrides: list[str] | None = None, command: str | None = None) -> T:
    """The config of a new run (``config``) or of a resumed one (``RESUME/config.resolved.yaml``).

    With neither, ``command`` (when given) names the command in a :class:`ConfigError`; without it the
    defaults plus ``overrides`` are used.
    """
    if resume:
        return load_config(cls, Path(resume) / "config.resolved.yaml", overrides)
    if config is None and command is not None:
        raise ConfigError(f"{command} needs CONFIG.yaml or --resume RUN_DIR")
    return load_config(cls, config, overrides)


def dump_yaml(data: dict[str, Any], path: str | Path) -> None:
    """Write ``data`` as YAML (block style, keys in insertion order)."""
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
