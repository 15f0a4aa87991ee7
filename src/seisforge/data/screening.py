"""Whole-trace picker probabilities for manifest rows (shared by clean-labels and noise-pool).

:class:`TraceScreener` loads a picker through the model registry and returns P/S probability curves for
a full trace by sliding the model window with 50 % overlap (maximum where windows overlap); each window
is demeaned and normalised as in ``bench predict``. :func:`iter_manifest_waveforms` opens the datasets a
manifest came from and yields each row's waveform, found by key (``dataset, chunk, trace_name``) through
SeisBench's own name index - never by row position.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from seisforge.errors import ConfigError, DataError


class TraceScreener:
    """P/S probability curves over whole traces from a SeisBench picker.

    Parameters
    ----------
    model_spec, weights, pretrained
        As for :func:`seisforge.models.registry.load_model`; the model must give probability curves (a
        SeisBench picker, ``run:`` or ``ensemble:``).
    device
        Torch device.
    batch_size
        Windows per forward pass.
    """

    def __init__(self, model_spec: str, weights: str | None = None, pretrained: str | None = None,
                 device: str = "cpu", batch_size: int = 64):
        from seisforge.models.registry import load_model
        from seisforge.models.window_picker import as_window_picker

        picker = as_window_picker(load_model(model_spec, weights=weights, pretrained=pretrained), device=device)
        if not hasattr(picker, "probabilities"):
            raise ConfigError(f"{model_spec} gives no probability curves; clean-labels and noise-pool need a "
                              "SeisBench picker (seisbench:<Class> --weights ...). STA/LTA triggers are a "
                              "separate option.")
        labels = list(picker.labels)
        if "P" not in labels or "S" not in labels:
            raise ConfigError(f"{model_spec}: labels {picker.labels!r} have no P and S")
        self.picker = picker
        self.ip, self.is_ = labels.index("P"), labels.index("S")
        self.sampling_rate = picker.sampling_rate
        self.component_order = picker.component_order
        self.in_samples = picker.in_samples
        self.norm = picker.norm
        self.batch_size = batch_size
        self.name = f"{model_spec}" + (f" ({weights})" if weights else "")

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        x = x - x.mean(axis=-1, keepdims=True)
        scale = np.abs(x).max(axis=-1, keepdims=True) if self.norm == "peak" else x.std(axis=-1, keepdims=True)
        return (x / (scale + 1e-10)).astype(np.float32)

    def curves(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P and S probability (T,) for one waveform (C, T) at the model's sampling rate."""
        return self.curves_many([wave])[0]

    def curves_many(self, waves: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`curves` for several waveforms, their windows batched together (much faster on CPU)."""
        w = self.in_samples
        padded, index = [], []
        for k, wave in enumerate(waves):
            wave = np.nan_to_num(np.asarray(wave, dtype=np.float32))
            if wave.shape[-1] < w:
                wave = np.pad(wave, ((0, 0), (0, w - wave.shape[-1])))
            padded.append(wave)
            total = wave.shape[-1]
            starts = list(range(0, total - w + 1, max(w // 2, 1)))
            if starts[-1] != total - w:
                starts.append(total - w)
            index += [(k, i) for i in starts]
        out = [(np.zeros(x.shape[-1]), np.zeros(x.shape[-1])) for x in padded]
        for b in range(0, len(index), self.batch_size):
            part = index[b:b + self.batch_size]
            probs = self.picker.probabilities(self._normalise(np.stack([padded[k][:, i:i + w] for k, i in part])))
            for (k, i), pr in zip(part, probs):
                p, s = out[k]
                p[i:i + w] = np.maximum(p[i:i + w], pr[self.ip])
                s[i:i + w] = np.maximum(s[i:i + w], pr[self.is_])
        return [(p[:x.shape[-1]], s[:x.shape[-1]]) for (p, s), x in zip(out, waves)]


def batched(items: Iterator, n: int) -> Iterator[list]:
    """Lists of up to ``n`` consecutive items."""
    buf = []
    for item in items:
        buf.append(item)
        if len(buf) == n:
            yield buf
            buf = []
    if buf:
        yield buf


def open_manifest_datasets(
    manifest: pd.DataFrame, provenance: dict, overrides: dict[str, str] | None = None,
    sampling_rate: float | None = None, component_order: str = "ZNE",
) -> dict:
    """Open every dataset named in ``manifest`` (sources from the manifest provenance or ``overrides``)."""
    from seisforge.data.sources import open_dataset

    sources = {**provenance.get("datasets", {}), **(overrides or {})}
    out = {}
    for name in sorted(manifest["dataset"].unique()):
        if name not in sources:
            raise DataError(f"manifest dataset {name!r} has no recorded source; pass --dataset {name}=PATH")
        out[name] = open_dataset(sources[name], sampling_rate=sampling_rate, component_order=component_order)
    return out


def iter_manifest_waveforms(manifest: pd.DataFrame, datasets: dict, desc: str = "screening",
                            missing: list | None = None) -> Iterator[tuple[dict, np.ndarray, dict]]:
    """Yield ``(manifest_row, waveform, metadata_row)`` for each manifest row, matched by key.

    Rows whose trace is not in the dataset (or unreadable) are appended to ``missing`` as
    ``(key, reason)`` and skipped.
    """
    missing = missing if missing is not None else []
    for row in tqdm(manifest.to_dict("records"), desc=desc, unit="trace"):
        ds = datasets[row["dataset"]]
        key = f"{row['dataset']}|{row['chunk']}|{row['trace_name']}"
        try:
            idx = ds.get_idx_from_trace_name(row["trace_name"], chunk=row["chunk"])
        except KeyError:
            missing.append((key, "trace_not_in_dataset"))
            continue
        try:
            wave = ds.get_waveforms(idx)
        except Exception:  # an unreadable trace is reported, not fatal
            missing.append((key, "waveform_unreadable"))
            continue
        yield row, wave, ds.metadata.iloc[idx].to_dict()


def parse_dataset_overrides(items: list[str] | None, root: Path | None = None) -> dict[str, str]:
    """``NAME=PATH`` strings to a mapping (paths resolved under ``root`` when given)."""
    from seisforge.paths import resolve_under

    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"expected NAME=PATH, got {item!r}")
        name, path = item.split("=", 1)
        out[name] = str(resolve_under(root, path)) if root is not None else path
    return out
