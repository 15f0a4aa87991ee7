"""What every compression step writes beside its model: the parent's card lookup and ``compress_report.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seisforge.compress.report import weight_bytes
from seisforge.models.loaded import LoadedModel
from seisforge.runinfo import RunReport, environment, sha256_file


def parent_card(loaded: LoadedModel) -> Path | None:
    """The ``model_card.json`` beside a ``run:``, ``onnx:`` or ``openvino:`` input (None for others)."""
    spec = loaded.spec
    for prefix in ("run:", "onnx:", "openvino:"):
        if spec.startswith(prefix):
            path = Path(spec[len(prefix):])
            return (path if path.is_dir() else path.parent) / "model_card.json"
    return None


def write_report(loaded, method, backend, path: Path, graph: bytes, info: dict, out: Path) -> dict[str, Any]:
    """``compress_report.json`` (and ``run_report.json``, ``env.json``) of one step; returns its notes."""
    files = [path] + ([path.with_suffix(".bin")] if path.suffix == ".xml" else [])  # safetensors: itself
    size = sum(f.stat().st_size for f in files)
    report = RunReport("compress")
    report.processed = 1
    report.notes.update({
        "method": method, "backend": "openvino" if method == "fp16" else backend, "input": loaded.spec,
        "artifact": str(path), "artifact_bytes": size, "float32_graph_bytes": len(graph),
        "size_ratio": len(graph) / size if size else None, "sha256": sha256_file(path),
        "weight_bytes": weight_bytes(files), "float32_weight_bytes": weight_bytes(graph),
        "weight_size_ratio": weight_bytes(graph) / max(1, weight_bytes(files)), **info,
    })
    report.write(out)
    report.write(out / "compress_report.json")
    (out / "env.json").write_text(json.dumps(environment(), indent=2, default=str))
    return report.notes
