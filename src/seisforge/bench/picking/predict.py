"""Predictions on benchmark targets, written in pick-benchmark's prediction format.

For each target window the model sees ``in_samples`` of context (SeisBench ``SteeredWindow`` with
``strategy="pad"``), and, exactly as pick-benchmark, outputs are read **inside the window borders**
(:mod:`seisforge.models.window_picker`):

- ``score_detection``: max of ``1 - P(noise)`` (or of the detection channel);
- ``score_p_or_s``: max P probability / max S probability;
- ``p_sample_pred``/``s_sample_pred``: argmax of the P/S curve + ``start_sample`` (trace samples);
- ``p_prob``/``s_prob`` (seisforge addition): the peak P/S probabilities, for pick-threshold metrics.

:func:`predict` runs the steps: open the dataset with trace keys (:func:`_open_with_keys`), prepare each
target group (:func:`_target_groups`), restrict the dataset to the traces used
(:func:`_loading_view`), batch the windows (:func:`_window_batches`), run the model
(:func:`_run_model`) and write one CSV per group (:func:`_write_predictions`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from seisforge.data.sources import open_dataset, trace_keys
from seisforge.data.targets_io import load_targets
from seisforge.errors import ConfigError, DataError
from seisforge.models.loaded import LoadedModel
from seisforge.models.registry import load_model
from seisforge.models.window_picker import SCORE_KEYS, WindowPicker, as_window_picker
from seisforge.runinfo import RunReport, sha256_file
from seisforge.seisbench_compat import replace_metadata, set_metadata_column

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = ("start_sample", "end_sample", "phase_onset")
META_COLUMNS = {
    "distance_km": ("path_ep_distance_km", "path_hyp_distance_km"),
    "magnitude": ("source_magnitude",),
    "snr_db": ("trace_snr_db",),
}


def _checked_generator(ds, rows: pd.DataFrame, augmentations):
    """A SeisBench ``SteeredGenerator`` that also reports non-finite samples and dead components."""
    import seisbench.generate as sbg

    class CheckedSteeredGenerator(sbg.SteeredGenerator):
        def _populate_state_dict(self, idx):
            state = super()._populate_state_dict(idx)
            wave, meta = state["X"]
            finite = bool(np.isfinite(wave).all())
            dead = np.array([not np.any(c) for c in wave]) if finite else np.zeros(len(wave), bool)
            state["checks"] = (np.array([finite, int(meta["trace_npts"])] + list(dead), dtype=np.int64), None)
            if not finite:
                state["X"] = (np.nan_to_num(wave, nan=0.0, posinf=0.0, neginf=0.0), meta)  # row is skipped
            return state

    gen = CheckedSteeredGenerator(ds, rows.reset_index(drop=True))
    gen.add_augmentations(augmentations)
    return gen


def _prepare_rows(df, ds, meta, keys, picker, has_dup_names, dataset, report, group):
    """Rescale, match targets to traces (counting misses) and attach event/bin metadata."""
    if df.empty:
        return None
    target_sr = df["sampling_rate"].astype(float).to_numpy()
    if not np.allclose(target_sr, picker.sampling_rate):
        factor = picker.sampling_rate / target_sr
        for col in SAMPLE_COLUMNS:
            if col in df.columns:
                df[col] = df[col].astype(float) * factor
        df["start_sample"] = np.round(df["start_sample"]).astype(int)
        df["end_sample"] = np.round(df["end_sample"]).astype(int)
        df["sampling_rate"] = picker.sampling_rate
        report.handle(f"targets_rescaled_{target_sr[0]:g}_to_{picker.sampling_rate:g}Hz", n=len(df))
    if "trace_chunk" not in df.columns or df["trace_chunk"].isna().all():
        if has_dup_names:
            raise DataError(
                "targets have no trace_chunk column but trace names repeat across chunks of "
                f"{dataset}; a target cannot be matched to one trace"
            )
        df["trace_chunk"] = meta["trace_chunk"].iloc[0] if len(meta) else ""
    df["trace_chunk"] = df["trace_chunk"].fillna("").astype(str)
    df = df.drop(columns=["trace_dataset"], errors="ignore")
    idx = []
    for name, chunk in zip(df["trace_name"], df["trace_chunk"]):
        try:
            idx.append(ds.get_idx_from_trace_name(name, chunk=chunk))
        except KeyError:
            idx.append(-1)
    idx = np.asarray(idx)
    for name in df.loc[idx < 0, "trace_name"]:
        report.skip("target_trace_not_found", f"{group}:{name}")
    df, idx = df[idx >= 0].copy(), idx[idx >= 0]
    if df.empty:
        return None
    df["trace_key"] = keys.iloc[idx].to_numpy()
    df["dataset"] = meta["trace_dataset"].iloc[idx].to_numpy()
    sid = meta["source_id"].iloc[idx].astype(str).to_numpy() if "source_id" in meta else None
    if "source_id" not in df.columns or df["source_id"].isna().all():
        df["source_id"] = sid if sid is not None else ""
    df["source_id"] = df["source_id"].fillna("").astype(str).replace("nan", "")
    for col, candidates in META_COLUMNS.items():
        src = next((c for c in candidates if c in meta.columns), None)
        df[col] = pd.to_numeric(meta[src].iloc[idx], errors="coerce").to_numpy() if src else np.nan
    return df


def steered_window(n: int, start: int, end: int, windowlen: int) -> tuple[int, np.ndarray]:
    """SeisBench ``SteeredWindow`` placement: the window start ``p0`` and the local borders."""
    sample_range = end - start
    if sample_range > windowlen:
        raise DataError(f"target window of {sample_range} samples exceeds the model window ({windowlen})")
    if sample_range == windowlen:
        p0 = max(0, start)
    else:
        p0 = start - (windowlen - sample_range) // 2
        if p0 + windowlen > n:
            p0 = n - windowlen
        p0 = max(0, p0)
    return p0, np.array([start - p0, end - p0])


def _preloaded_batches(source, rows: pd.DataFrame, picker, batch_size: int):
    """Batches equal to the SeisBench generator pipeline's, built vectorised from preloaded traces.

    Each trace is read once through SeisBench (``get_sample``, resampled to the model's rate); windows
    are placed exactly as ``SteeredWindow(strategy="pad")`` (zero padding past the trace end), cast to
    float32 and normalised per batch exactly as ``Normalize(demean_axis=-1, amp_norm_axis=-1)``.
    ``tests/test_bench_pipeline.py`` checks the equality with the generator path.
    """
    cache: dict[int, tuple] = {}
    n = picker.in_samples
    idx = [source.get_idx_from_trace_name(t, chunk=c) for t, c in zip(rows["trace_name"], rows["trace_chunk"])]
    starts, ends = rows["start_sample"].to_numpy(int), rows["end_sample"].to_numpy(int)
    for b0 in range(0, len(rows), batch_size):
        sl = range(b0, min(b0 + batch_size, len(rows)))
        x = np.zeros((len(sl), len(picker.component_order), n), dtype=np.float32)
        borders = np.zeros((len(sl), 2), dtype=np.int64)
        checks = np.zeros((len(sl), 2 + len(picker.component_order)), dtype=np.int64)
        for j, i in enumerate(sl):
            if idx[i] not in cache:
                wave = source.get_sample(idx[i])[0]
                finite = bool(np.isfinite(wave).all())
                dead = [not np.any(c) for c in wave] if finite else [False] * len(wave)
                cache[idx[i]] = (np.nan_to_num(wave) if not finite else wave, [finite, wave.shape[-1], *dead])
            wave, chk = cache[idx[i]]
            checks[j] = chk
            p0, borders[j] = steered_window(wave.shape[-1], int(starts[i]), int(ends[i]), n)
            seg = wave[:, p0:p0 + n]
            x[j, :, :seg.shape[-1]] = seg
        x = x - np.mean(x, axis=-1, keepdims=True)
        if picker.norm == "peak":
            x = x / (np.max(np.abs(x), axis=-1, keepdims=True) + 1e-10)
        elif picker.norm == "std":
            x = x / (np.std(x, axis=-1, keepdims=True) + 1e-10)
        yield {"X": x, "window_borders": borders, "checks": checks}


def window_inputs(dataset: str | Path, rows: pd.DataFrame, picker: WindowPicker) -> tuple[np.ndarray, np.ndarray]:
    """The model inputs of some target ``rows`` exactly as :func:`predict` builds them.

    Returns ``(x, borders)``: normalised windows (N, C, in_samples) and their local evaluation borders
    (N, 2). ``rows`` need ``trace_name``, ``trace_chunk``, ``start_sample`` and ``end_sample`` at the
    picker's rate (a prediction CSV's rows are). Used to look at single windows again (report gallery).
    """
    ds, _, _ = _open_with_keys(dataset, picker, False, RunReport("window inputs"))
    rows = rows.assign(trace_chunk=rows["trace_chunk"].fillna("").astype(str)).reset_index(drop=True)
    batch = next(_preloaded_batches(ds, rows, picker, max(len(rows), 1)))
    return batch["X"], batch["window_borders"]


def _check_batch(batch, rows: pd.DataFrame, picker, report: RunReport) -> np.ndarray:
    """Which windows of a batch can be predicted; counts the rest (and documented handlings)."""
    checks = np.asarray(batch["checks"])
    ok = checks[:, 0].astype(bool)
    npts = checks[:, 1]
    dead = checks[:, 2:].astype(bool)
    beyond = rows["end_sample"].to_numpy() > npts
    keys = rows["trace_key"].to_numpy()
    for j in np.flatnonzero(~ok):
        report.skip("nonfinite_samples", keys[j])
    for j in np.flatnonzero(ok & beyond):
        report.skip("window_beyond_trace_end", keys[j])
    good = ok & ~beyond
    for j in np.flatnonzero(good & dead.any(axis=1)):
        report.handle("dead_or_missing_component", keys[j])
    for j in np.flatnonzero(good & (npts < picker.in_samples)):
        report.handle("trace_shorter_than_model_window_padded", keys[j])
    return good


def _open_with_keys(dataset: str | Path, picker: WindowPicker, preload: bool, report: RunReport):
    """Open ``dataset`` at the picker's rate and components, with a ``trace_key`` metadata column.

    Returns ``(ds, meta, keys)``; ``meta`` is ``ds.metadata`` (the same frame, so it has the new column).
    """
    ds = open_dataset(dataset, sampling_rate=picker.sampling_rate, component_order=picker.component_order,
                      cache="full" if preload else None)
    meta = ds.metadata
    keys = trace_keys(meta)
    set_metadata_column(ds, "trace_key", keys.to_numpy())
    native_sr = meta["trace_sampling_rate_hz"].to_numpy(dtype=float)
    n_resampled = int(np.sum(~np.isclose(native_sr, picker.sampling_rate)))
    if n_resampled:
        report.handle(f"trace_resampled_to_{picker.sampling_rate:g}Hz", n=n_resampled)
    return ds, meta, keys


def _check_card(card, ds, meta: pd.DataFrame, report: RunReport, dataset: str) -> None:
    """Check the model card against the dataset's native rate and components; record what loading does.

    A component order that cannot be matched raises :class:`~seisforge.errors.DataError`
    (:func:`seisforge.models.card.check_card_against_data`); resampling and zero-filled components are
    recorded in the run report's notes.
    """
    from seisforge.models.card import check_card_against_data

    rates = np.unique(meta["trace_sampling_rate_hz"].to_numpy(dtype=float)) if len(meta) else [card.sampling_rate]
    order = str((getattr(ds, "data_format", None) or {}).get("component_order", card.component_order))
    notes = []
    for rate in rates:
        notes.extend(check_card_against_data(card, float(rate), order, source=dataset).notes)
    report.notes["model_card_check"] = sorted(set(notes)) or ["matches the data"]


def _target_groups(targets: dict[str, pd.DataFrame], splits: tuple[str, ...], ds, meta: pd.DataFrame,
                   keys: pd.Series, picker: WindowPicker, dataset: str, report: RunReport) -> list[pd.DataFrame]:
    """The prepared target rows of each ``{split}_task{task}`` group (column ``_group``); empty ones are noted."""
    has_dup_names = meta["trace_name"].duplicated().any()
    groups = []
    for task, df_all in targets.items():
        for split in splits:
            name = f"{split}_task{task}"
            df = _prepare_rows(df_all[df_all["trace_split"] == split].copy(), ds, meta, keys, picker,
                               has_dup_names, dataset, report, name)
            if df is None:
                report.notes.setdefault("empty", []).append(name)
                continue
            df["_group"] = name
            groups.append(df)
    return groups


def _loading_view(ds, meta: pd.DataFrame, rows: pd.DataFrame):
    """A copy of ``ds`` with only the traces ``rows`` use and only the metadata columns loading reads.

    Fewer metadata columns make SeisBench's per-sample metadata copy cheap.
    """
    needed = meta["trace_key"].isin(set(rows["trace_key"])).to_numpy()
    source = ds.filter(needed, inplace=False)
    load_cols = [c for c in ("trace_name", "trace_chunk", "trace_dataset", "trace_sampling_rate_hz",
                             "trace_component_order", "trace_npts") if c in source.metadata.columns]
    replace_metadata(source, source.metadata[load_cols].copy())
    return source


def _window_batches(source, rows: pd.DataFrame, picker: WindowPicker, batch_size: int, preload: bool,
                    num_workers: int):
    """Batches of windows in ``rows`` order: vectorised from preloaded traces, or SeisBench's generator."""
    if preload:
        source.preload_waveforms(pbar=False)  # one pass over the HDF5 instead of one open per window
        return _preloaded_batches(source, rows, picker, batch_size)
    import seisbench.generate as sbg
    import torch

    from seisforge.runinfo import worker_init_fn

    augmentations = [
        sbg.SteeredWindow(windowlen=picker.in_samples, strategy="pad"),
        sbg.ChangeDtype(np.float32),
        sbg.Normalize(demean_axis=-1, amp_norm_axis=-1, amp_norm_type=picker.norm),
    ]
    slim = rows[["trace_name", "trace_chunk", "start_sample", "end_sample"]]  # cheap per-item lookups
    gen = _checked_generator(source, slim, augmentations)
    return torch.utils.data.DataLoader(
        gen, batch_size=batch_size, shuffle=False, num_workers=num_workers, worker_init_fn=worker_init_fn,
    )


def _run_model(batches, rows: pd.DataFrame, picker: WindowPicker,
               report: RunReport) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The picker's outputs for the windows that pass :func:`_check_batch`.

    Returns ``(keep, outputs)``: ``keep`` marks those rows, ``outputs`` holds their window outputs in row
    order (empty when none).
    """
    keep = np.zeros(len(rows), dtype=bool)
    results = []
    pos = 0
    with tqdm(total=len(rows), desc="predict", unit="win") as bar:
        for batch in batches:
            x = np.asarray(batch["X"])
            good = _check_batch(batch, rows.iloc[pos:pos + len(x)], picker, report)
            keep[pos:pos + len(x)] = good
            if good.any():
                results.append(picker.window_outputs(x[good], np.asarray(batch["window_borders"])[good]))
            pos += len(x)
            bar.update(len(x))
    merged = {k: np.concatenate([r[k] for r in results]) for k in results[0]} if results else {}
    return keep, merged


def _write_predictions(rows: pd.DataFrame, keep: np.ndarray, outputs: dict[str, np.ndarray],
                       groups: list[pd.DataFrame], out: Path) -> None:
    """Write ``{group}.csv`` for each target group: the kept rows with scores and trace-sample picks."""
    kept = rows[keep].copy()
    for k in SCORE_KEYS:
        kept[k] = outputs.get(k, np.array([]))
    if len(kept):
        kept["p_sample_pred"] = outputs["p_local"] + kept["start_sample"].to_numpy()
        kept["s_sample_pred"] = outputs["s_local"] + kept["start_sample"].to_numpy()
    else:
        kept["p_sample_pred"] = kept["s_sample_pred"] = np.array([])
    for df in groups:
        name = df["_group"].iloc[0]
        part = kept[kept["_group"] == name].drop(columns=["_group"])
        part.to_csv(out / f"{name}.csv", index=False)


def _run_notes(dataset, targets_dir, model_spec, picker, weights, pretrained, batch_size, device,
               calibration) -> dict:
    """What ``bench predict`` records in its run report: inputs, model identity and settings."""
    return {
        "dataset": str(dataset),
        "targets": str(targets_dir),
        "targets_sha256": {f.name: sha256_file(f) for f in sorted(Path(targets_dir).glob("task*.csv"))},
        "model": model_spec,
        "model_class": picker.name,
        "model_version": picker.version,
        "weights": str(weights) if weights else None,
        "pretrained": pretrained,
        "sampling_rate": picker.sampling_rate,
        "in_samples": picker.in_samples,
        "batch_size": batch_size,
        "device": device,
        "calibrated": bool(calibration),
        "calibration": ({k: calibration.get(k) for k in ("method", "fitted_on", "pred_dir", "maps")}
                        if calibration else None),
    }


def predict(
    dataset: str | Path,
    targets_dir: str | Path,
    model_spec: str,
    out: str | Path,
    weights: str | None = None,
    pretrained: str | None = None,
    batch_size: int = 256,
    splits: tuple[str, ...] = ("dev", "test"),
    device: str = "cpu",
    num_workers: int = 0,
    model: LoadedModel | None = None,
    preload: bool = True,
    calibration: dict | None = None,
) -> RunReport:
    """Predict all target windows and write ``{split}_task{1,23}.csv`` plus ``run_report.json``.

    Parameters
    ----------
    dataset
        SeisBench dataset (path or name) the targets refer to.
    targets_dir
        Folder with ``task1.csv`` and/or ``task23.csv``.
    model_spec
        Model spec (grammar in :mod:`seisforge.models.registry`).
    out
        Prediction folder (created).
    weights, pretrained
        Weights for ``seisbench:`` specs.
    batch_size, device, num_workers
        Inference settings.
    model
        An already loaded model (overrides ``model_spec`` loading).
    preload
        Read the traces the targets use into memory first (SeisBench ``cache="full"``); turn off for
        benchmarks larger than memory.
    calibration
        A model card's ``calibration`` (:mod:`seisforge.bench.picking.calibration`): the written
        probabilities are calibrated (``bench predict --calibrated``); onsets are unchanged.
    """
    report = RunReport("bench predict")
    targets = load_targets(targets_dir)
    if model is None:
        model = load_model(model_spec, weights=weights, pretrained=pretrained)
    if model.card is not None and model.card.task != "picking":
        raise ConfigError(f"the model is a {model.card.task} model (outputs {model.card.outputs}), not a phase "
                          "picker; bench predict scores pickers (detection/magnitude runs are scored by "
                          "seisforge adapt into task_metrics.json)")
    picker = as_window_picker(model, device=device)
    ds, meta, keys = _open_with_keys(dataset, picker, preload, report)
    if model.card is not None:
        _check_card(model.card, ds, meta, report, str(dataset))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    groups = _target_groups(targets, splits, ds, meta, keys, picker, str(dataset), report)
    # one stream over all groups, so every batch is full
    rows = pd.concat(groups, ignore_index=True) if groups else pd.DataFrame()
    keep, outputs = np.zeros(len(rows), dtype=bool), {}
    if len(rows):
        batches = _window_batches(_loading_view(ds, meta, rows), rows, picker, batch_size, preload, num_workers)
        keep, outputs = _run_model(batches, rows, picker, report)
    if calibration and outputs:  # --calibrated: monotone maps of the peak probabilities
        from seisforge.bench.picking.calibration import calibrate_outputs

        outputs = calibrate_outputs(outputs, calibration)
    _write_predictions(rows, keep, outputs, groups, out)
    report.processed += int(keep.sum())
    report.notes.update(_run_notes(dataset, targets_dir, model_spec, picker, weights, pretrained, batch_size,
                                   device, calibration))
    report.write(out)
    return report


def target_windows(dataset: str | Path, targets_dir: str | Path, picker: WindowPicker, split: str = "dev",
                   batch_size: int = 256) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """The normalised model-input windows of one split's targets, as ``bench predict`` builds them.

    Returns ``(x, borders, rows)``: windows (N, C, T) float32 after the same placement and
    normalisation as :func:`predict`, the local target borders (N, 2), and the target rows (with a
    ``_group`` column ``{split}_task{1,23}``). Windows ``bench predict`` would skip are left out and
    counted nowhere; use :func:`predict` for accounted runs. Used for calibration and accuracy-control
    sets in compression.
    """
    report = RunReport("target windows")
    ds, meta, keys = _open_with_keys(dataset, picker, True, report)
    groups = _target_groups(load_targets(targets_dir), (split,), ds, meta, keys, picker, str(dataset), report)
    if not groups:
        raise DataError(f"{targets_dir}: no {split} targets in {dataset}")
    rows = pd.concat(groups, ignore_index=True)
    xs, bs, keep = [], [], np.zeros(len(rows), dtype=bool)
    pos = 0
    for batch in _window_batches(_loading_view(ds, meta, rows), rows, picker, batch_size, True, 0):
        x = np.asarray(batch["X"])
        good = _check_batch(batch, rows.iloc[pos:pos + len(x)], picker, report)
        keep[pos:pos + len(x)] = good
        xs.append(x[good])
        bs.append(np.asarray(batch["window_borders"])[good])
        pos += len(x)
    return np.concatenate(xs), np.concatenate(bs), rows[keep].reset_index(drop=True)
