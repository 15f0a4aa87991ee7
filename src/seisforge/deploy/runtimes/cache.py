"""On-disk cache of exported graphs, runtime choices and OpenVINO compiled blobs for ``seisforge pick``.

A picking process that starts for one station-day pays the ONNX export, the OpenVINO compilation and
the start-up timing of the runtimes again and again. Each is cached here, keyed by everything that can
change its result: the weights (SHA-256 of the state dict, or of the stored graph of an ``onnx:``
artifact), the window geometry and annotate arguments, the backend, the precision and batch, the
threads, the versions of torch/onnx/onnxruntime/openvino and the CPU flags. A second process with the
same key reads the graph and the runtime chosen instead of re-exporting and re-timing; OpenVINO reuses
its compiled blobs through its own ``CACHE_DIR``.

``SEISFORGE_CACHE`` sets the folder (default ``~/.cache/seisforge``); ``SEISFORGE_CACHE=off`` disables
it. A cache that cannot be read or written is skipped, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: bump when the export or the choice logic changes what a key stands for
CACHE_VERSION = 2  # 2: polyphase transposed convolutions, merged crops
_PACKAGES = ("torch", "onnx", "onnxruntime", "openvino", "seisbench")


def cache_dir() -> Path | None:
    """The cache folder, or None when ``SEISFORGE_CACHE=off``."""
    value = os.environ.get("SEISFORGE_CACHE", "")
    if value.lower() in ("off", "0", "false", "no"):
        return None
    return Path(value) if value else Path.home() / ".cache" / "seisforge"


def weights_hash(model: Any) -> str:
    """SHA-256 of a model's class, tensors (names, shapes, bytes) or stored ONNX graph."""
    h = hashlib.sha256(type(model).__name__.encode())
    stored = getattr(model, "onnx_net_graph", None)
    if stored is not None:
        h.update(stored)
        xml = getattr(model, "xml", None)
        if xml is not None:
            h.update(Path(xml).read_bytes())
        return h.hexdigest()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def environment_key() -> dict[str, Any]:
    """Runtime versions and CPU flags: a cached choice is only valid on the same software and CPU."""
    from seisforge.runinfo import cpu_flags, package_versions

    return {"v": CACHE_VERSION, "packages": package_versions(_PACKAGES), "cpu": cpu_flags()}


def key_of(kind: str, **parts: Any) -> str:
    """The cache key of an entry of ``kind`` from JSON-able ``parts`` (plus :func:`environment_key`)."""
    text = json.dumps({"kind": kind, **parts, "env": environment_key()}, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def _bytes_path(key: str) -> Path | None:
    root = cache_dir()
    return root / "graphs" / f"{key}.onnx" if root else None


def stored_bytes(key: str) -> bytes | None:
    """The bytes stored under ``key``, or None."""
    path = _bytes_path(key)
    if path is None or not path.is_file():
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def cached_bytes(key: str, make: Callable[[], bytes]) -> bytes:
    """The bytes stored under ``key``, else ``make()`` (stored for next time)."""
    data = stored_bytes(key)
    if data is None:
        data = make()
        _write(_bytes_path(key), data)
    return data


def cached_json(key: str) -> dict[str, Any] | None:
    """The JSON stored under ``key``, or None."""
    root = cache_dir()
    path = root / "choices" / f"{key}.json" if root else None
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def store_json(key: str, value: dict[str, Any]) -> None:
    """Store ``value`` under ``key`` (silently skipped when the cache is not writable)."""
    root = cache_dir()
    _write(root / "choices" / f"{key}.json" if root else None, json.dumps(value).encode())


def openvino_cache_dir() -> str | None:
    """The folder for OpenVINO's own compiled-blob cache (``CACHE_DIR``), or None."""
    root = cache_dir()
    if root is None:
        return None
    try:
        (root / "openvino").mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return str(root / "openvino")


def _write(path: Path | None, data: bytes) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: concurrent processes never read half a file
    except OSError as err:
        log.debug("cache write %s skipped: %s", path, err)
