"""``bench score``: metrics.json from a prediction folder, with event-level bootstrap CIs and bins."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from seisforge.bench.picking import metrics as M
from seisforge.bench.picking.calibration import calibration_metrics
from seisforge.bench.stats import cluster_bootstrap, clusters_of
from seisforge.binary_metrics import binary_prf, safe_auc
from seisforge.data.targets_io import read_csv_checked
from seisforge.errors import DataError
from seisforge.runinfo import write_json

log = logging.getLogger(__name__)

SCHEMA = "seisforge.metrics/1"


#: columns every prediction file of a task must have (the metrics read them unconditionally)
REQUIRED_COLUMNS = {"task1": ("trace_type", "score_detection"), "task23": ("phase_label", "phase_onset", "sampling_rate")}
#: columns that must hold numbers where they are present (empty cells are allowed: no prediction)
NUMERIC_COLUMNS = ("score_detection", "score_p_or_s", "phase_onset", "sampling_rate", "p_sample_pred",
                   "s_sample_pred", "p_prob", "s_prob", "start_sample", "end_sample", "distance_km", "magnitude",
                   "snr_db")


def read_predictions(pred_dir: Path, name: str) -> pd.DataFrame | None:
    """One prediction CSV, checked: readable text, required columns, numbers where numbers belong.

    Raises
    ------
    DataError
        Naming the file: binary or malformed CSV, a missing column, or a non-numeric value (with its row).
    """
    path = pred_dir / f"{name}.csv"
    if not path.is_file():
        return None
    df = read_csv_checked(path, "predictions file", dtype={"source_id": str, "trace_chunk": str})
    missing = [c for c in REQUIRED_COLUMNS[name.split("_", 1)[1]] if c not in df.columns]
    if missing:
        raise DataError(f"predictions file {path} lacks column(s) {missing} (has {list(df.columns)[:12]})")
    for col in (c for c in NUMERIC_COLUMNS if c in df.columns):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise DataError(f"predictions file {path}: column {col} holds non-numeric values "
                            f"({int(bad.sum())} rows; first at data row {row + 1}: {df[col].iloc[row]!r})")
        df[col] = values
    return df


def read_metrics(pred_dir: str | Path) -> dict:
    """``metrics.json`` of a scored prediction folder, checked to be a seisforge metrics object.

    Raises
    ------
    DataError
        Naming the file when it is missing, not JSON, or not a metrics object.
    """
    path = Path(pred_dir) / "metrics.json"
    if not path.is_file():
        raise DataError(f"{path} not found; run `seisforge bench score {pred_dir}` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path} is not valid JSON ({err}); rerun `seisforge bench score {pred_dir}`") from err
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise DataError(f"{path} is not a seisforge metrics file (no 'metrics' object); "
                        f"rerun `seisforge bench score {pred_dir}`")
    bad = [k for k, v in data["metrics"].items() if v is not None and not isinstance(v, (int, float))]
    if bad:
        raise DataError(f"{path}: metrics {bad[:5]} are not numbers; rerun `seisforge bench score {pred_dir}`")
    for key in ("thresholds", "ci95", "reasons"):
        if not isinstance(data.get(key, {}), dict):
            raise DataError(f"{path}: {key!r} must be an object; rerun `seisforge bench score {pred_dir}`")
    return data


def _task1_stat(test: pd.DataFrame, thr: float):
    """Index array -> task-1 test metrics at the fixed dev threshold."""
    y = (test["trace_type"] == "earthquake").to_numpy()
    s = test["score_detection"].to_numpy(dtype=float)

    def stat(idx):
        out = {"test_det_auc": safe_auc(y[idx], s[idx])}
        if np.isfinite(thr):
            p, r, f = binary_prf(y[idx], s[idx] > thr)
            out.update({"test_det_precision": p, "test_det_recall": r, "test_det_f1": f})
        return out

    return stat


def _task23_stat(test: pd.DataFrame, met: dict, thresholds: dict):
    """Index array -> task-2/3 test metrics at the fixed dev thresholds."""
    from sklearn.metrics import matthews_corrcoef

    y = (test["phase_label"] == "P").to_numpy()
    s = np.clip(test["score_p_or_s"].to_numpy(dtype=float), -1e100, 1e100)
    mthr = met.get("phase_threshold_mcc", np.nan)
    fthr = met.get("phase_threshold", np.nan)
    phase_rows = {ph: (test["phase_label"] == ph).to_numpy() for ph in M.PHASES}
    res = {ph: M.pick_residuals(test, ph) for ph in M.PHASES}
    prob = {ph: M.phase_probabilities(test, ph) for ph in M.PHASES}

    def stat(idx):
        out = {}
        if np.isfinite(mthr) and len(np.unique(y[idx])) == 2:
            out["test_phase_mcc"] = float(matthews_corrcoef(y[idx], s[idx] > mthr))
            out["test_phase_f1"] = binary_prf(y[idx], s[idx] > fthr)[2]
        for ph in M.PHASES:
            sel = idx[phase_rows[ph][idx]]
            r = res[ph][sel]
            for k, v in M.residual_stats(r).items():
                out[f"test_{ph}_{k}"] = v
            if ph in thresholds:
                st = M.pick_stats(prob[ph][sel], r, np.array([]), thresholds[ph], f"test_{ph}")
                for k in ("recall", "cond_mae_s", "cond_rms_s", "cond_outlier_frac_0.45s",
                          "cond_outlier_frac_1s", "cond_outlier_frac_1.5s"):
                    out[f"test_{ph}_{k}"] = st[f"test_{ph}_{k}"]
        return out

    return stat


def _bins(test23: pd.DataFrame, thresholds: dict, n_boot: int, seed: int) -> list[dict]:
    rows = []
    groups = M.binning(test23)
    for by, labels in groups.items():
        for label in sorted(labels.unique(), key=str):
            sub = test23[labels.to_numpy() == label]
            for ph in M.PHASES:
                d = sub[sub["phase_label"] == ph]
                if d.empty:
                    continue
                res, prob = M.pick_residuals(d, ph), M.phase_probabilities(d, ph)
                thr = thresholds.get(ph, np.nan)

                def stat(idx, res=res, prob=prob, thr=thr):
                    r = res[idx]
                    rs = M.residual_stats(r)
                    out = {"mae_s": rs["mae_s"], "rms_s": rs["std_s"]}
                    if np.isfinite(thr):
                        det, cor = M.pick_outcome(prob[idx], r, thr)
                        out["recall"] = float(cor.mean())
                        out["cond_mae_s"] = float(np.mean(np.abs(r[det]))) if det.any() else np.nan
                    return out

                full = stat(np.arange(len(d)))
                ci = cluster_bootstrap(clusters_of(d), stat, n_boot, seed)
                row = {"by": by, "bin": str(label), "phase": ph, "n": int(len(d)),
                       "n_events": int(len(set(clusters_of(d))))}
                for k, v in full.items():
                    row[k] = v
                    row[f"{k}_ci_low"], row[f"{k}_ci_high"] = ci[k]
                rows.append(row)
    return rows


def training_domain(predict_notes: dict, train_manifest: str | Path | None = None) -> tuple[str, dict | None]:
    """``in-domain`` / ``cross-domain`` / ``unknown`` for the predicted model against the test targets.

    Uses ``train_manifest`` when given, else the trace list of a ``run:`` model
    (``RUN_DIR/data_traces.tsv``); models whose training data are unknown (hub weights) are
    ``unknown``. Results are in-domain when training shared a dataset with the test targets (the
    pick-benchmark sense) and always when any test trace or event was in the training data
    (``test_overlap``, a leak); cross-domain only for disjoint datasets without overlap.
    """
    from seisforge.data.leakage import check_leakage

    targets = predict_notes.get("targets")
    spec = predict_notes.get("model") or ""
    if targets is None:
        return "unknown", None
    frame = None
    if train_manifest is not None:
        from seisforge.data.manifest_io import read_manifest

        frame = read_manifest(train_manifest)
    else:
        runs = [s.split(":", 1)[1] for s in spec.replace("ensemble:", "").split(",") if s.startswith("run:")]
        tables = [Path(r) / "data_traces.tsv" for r in runs]
        if runs and all(t.is_file() for t in tables):
            t = pd.concat([read_csv_checked(p, "trace list", sep="\t", dtype=str, keep_default_na=False)
                           for p in tables])
            parts = t["trace_key"].str.split("|", n=2, expand=True)
            frame = pd.DataFrame({"dataset": parts[0], "chunk": parts[1], "trace_name": parts[2],
                                  "event_key": t.get("event_key", ""), "station_key": "", "split": t["split"]})
    if frame is None:
        return "unknown", None
    from seisforge.data.targets_io import load_targets

    report = check_leakage(frame, targets, bench_splits=["test"])
    test_sets = set()
    for t in load_targets(targets).values():
        if "trace_dataset" in t:
            test_sets |= set(t.loc[t["trace_split"] == "test", "trace_dataset"].dropna().astype(str))
    shared = sorted(test_sets & set(frame["dataset"].astype(str)))
    report["test_overlap"] = report["overlap"]
    report["shared_datasets"] = shared
    domain = "in-domain" if (report["overlap"] or shared) else "cross-domain"
    report["domain"] = domain
    return domain, report


def score(pred_dir: str | Path, n_boot: int = 1000, seed: int = 0,
          train_manifest: str | Path | None = None) -> dict:
    """Compute metrics for a prediction folder and write ``metrics.json`` (and ``bins.csv``).

    Parameters
    ----------
    pred_dir
        Folder with ``{dev,test}_task{1,23}.csv`` from ``bench predict`` (or pick-benchmark).
    n_boot
        Bootstrap resamples (by event) for the CIs; 0 disables them.
    seed
        Bootstrap seed.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise DataError(f"prediction folder not found: {pred_dir}")
    files = {n: read_predictions(pred_dir, n) for n in ("dev_task1", "test_task1", "dev_task23", "test_task23")}
    if all(v is None for v in files.values()):
        raise DataError(f"{pred_dir}: no {{dev,test}}_task{{1,23}}.csv prediction files")
    reasons: dict[str, str] = {}
    met: dict = {}
    ci: dict = {}
    thresholds: dict = {}
    d1, t1 = files["dev_task1"], files["test_task1"]
    met.update(M.task1_metrics(d1, t1, reasons))
    if t1 is not None and not t1.empty:
        ci.update(cluster_bootstrap(clusters_of(t1), _task1_stat(t1, met.get("det_threshold", np.nan)),
                                    n_boot, seed))
    d23, t23 = files["dev_task23"], files["test_task23"]
    bins: list[dict] = []
    if d23 is None or t23 is None or d23.empty or t23.empty:
        reasons["task23"] = "dev_task23.csv or test_task23.csv missing or empty"
    else:
        met.update(M.task2_metrics(d23, t23, reasons))
        noise_d = d1[d1["trace_type"] == "noise"] if d1 is not None else None
        noise_t = t1[t1["trace_type"] == "noise"] if t1 is not None else None
        m3, thresholds = M.task3_metrics(d23, t23, noise_d, noise_t, reasons)
        met.update(m3)
        ci.update(cluster_bootstrap(clusters_of(t23), _task23_stat(t23, met, thresholds), n_boot, seed))
        bins = _bins(t23, thresholds, min(n_boot, 200), seed)
    # --- calibration (seisforge.bench.picking.calibration): ECE, Brier, reliability on test
    cal_met, cal_ci, cal_reasons, cal_section = calibration_metrics(t1, t23, "test", n_boot, seed)
    met.update(cal_met)
    ci.update(cal_ci)
    reasons.update(cal_reasons)
    # --- end calibration
    report_path = pred_dir / "run_report.json"
    predict_report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    cal_section["applied"] = predict_report.get("notes", {}).get("calibration")
    domain, leakage = training_domain(predict_report.get("notes", {}), train_manifest)
    result = {
        "schema": SCHEMA,
        "pred_dir": str(pred_dir),
        "model": predict_report.get("notes", {}).get("model"),
        "model_version": predict_report.get("notes", {}).get("model_version"),
        "dataset": predict_report.get("notes", {}).get("dataset"),
        "domain": domain,
        "leakage": leakage,
        "counts": {k: (0 if v is None else int(len(v))) for k, v in files.items()},
        "metrics": met,
        "ci95": {k: list(v) for k, v in ci.items()},
        "reasons": reasons,
        "thresholds": {"det_threshold": met.get("det_threshold"),
                       "phase_threshold": met.get("phase_threshold"),
                       "phase_threshold_mcc": met.get("phase_threshold_mcc"),
                       **{f"{k}_pick_threshold": v for k, v in thresholds.items()},
                       "chosen_on": "dev"},
        "pick_tolerance_s": M.PICK_TOLERANCE_S,
        "bootstrap": {"n": n_boot, "cluster": "source_id (trace key for noise)", "seed": seed,
                      "confidence": 0.95},
        "bins": bins,
        "calibration": cal_section,
        "predict_skipped": predict_report.get("skipped", {}),
        "predict_handled": predict_report.get("handled", {}),
    }
    write_json(result, pred_dir / "metrics.json")
    if bins:
        pd.DataFrame(bins).to_csv(pred_dir / "bins.csv", index=False)
    return result


def _aligned(base: pd.DataFrame, other: pd.DataFrame, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    key = ["trace_key" if "trace_key" in base else "trace_name", "start_sample", "end_sample"]
    if "phase_label" in base:
        key.append("phase_label")
    merged = base[key].merge(other[key].reset_index(), on=key, how="inner")
    if len(merged) != len(base) or len(merged) != len(other):
        raise DataError(f"{name}: the two prediction sets cover different target windows "
                        f"({len(base)} vs {len(other)}, {len(merged)} shared); compare runs on the same targets")
    return base.reset_index(drop=True), other.loc[merged["index"].to_numpy()].reset_index(drop=True)


def paired_compare(base_dir: str | Path, other_dir: str | Path, n_boot: int = 1000, seed: int = 0) -> dict:
    """Paired differences ``other - base`` of the test metrics, with event-bootstrap CIs.

    Both folders must hold predictions for the same targets and a ``metrics.json`` (each model keeps
    its own dev-chosen thresholds). The same event resamples are applied to both models, so the CI of
    the difference accounts for their correlation.
    """
    out = paired_compare_seeds([base_dir], [other_dir], n_boot, seed)
    out["base"], out["other"] = str(base_dir), str(other_dir)
    return out


def paired_compare_seeds(base_dirs: list, other_dirs: list, n_boot: int = 1000, seed: int = 0) -> dict:
    """Seed-averaged paired differences: the mean over pairs ``(base_dirs[i], other_dirs[i])`` of
    ``other - base``, with one event bootstrap applied to every pair at once.

    Every folder must hold predictions for the same targets (training seeds of two arms, scored on one
    benchmark); each keeps its own dev-chosen thresholds. Resampling events jointly across the pairs gives a
    CI of the seed-averaged difference that keeps the event-level uncertainty and the pairing.
    """
    pairs = [(Path(b), Path(o)) for b, o in zip(base_dirs, other_dirs, strict=True)]
    out: dict = {"base": [str(b) for b, _ in pairs], "other": [str(o) for _, o in pairs], "delta": {}, "ci95": {}}
    for name in ("test_task1", "test_task23"):
        ref, stats = None, []
        for base_dir, other_dir in pairs:
            b, o = read_predictions(base_dir, name), read_predictions(other_dir, name)
            if b is None or o is None or b.empty:
                break
            if ref is not None:
                b = _aligned(ref, b, name)[1]
            ref = b if ref is None else ref
            b, o = _aligned(b, o, name)
            stats.append(_pair_stats(name, b, o, base_dir, other_dir))
        else:
            if not stats:
                continue

            def diff(idx, stats=stats):
                each = [(fb(idx), fo(idx)) for fb, fo in stats]
                keys = set.intersection(*({k for k in a if k in c} for a, c in each))
                return {k: float(np.mean([c[k] - a[k] for a, c in each])) for k in keys}

            out["delta"].update(diff(np.arange(len(ref))))
            out["ci95"].update({k: list(v) for k, v in cluster_bootstrap(clusters_of(ref), diff, n_boot, seed).items()})
    return out


def _pair_stats(name: str, b: pd.DataFrame, o: pd.DataFrame, base_dir: Path, other_dir: Path):
    """The test-metric functions (index array -> metrics) of two aligned prediction sets, at their dev thresholds."""
    mb, mo = (read_metrics(d) for d in (base_dir, other_dir))
    if name == "test_task1":
        return (_task1_stat(b, mb["metrics"].get("det_threshold") or np.nan),
                _task1_stat(o, mo["metrics"].get("det_threshold") or np.nan))
    thr_b = {ph: mb.get("thresholds", {}).get(f"{ph}_pick_threshold") for ph in M.PHASES}
    thr_o = {ph: mo.get("thresholds", {}).get(f"{ph}_pick_threshold") for ph in M.PHASES}
    return (_task23_stat(b, _nan(mb["metrics"]), {k: v for k, v in thr_b.items() if v is not None}),
            _task23_stat(o, _nan(mo["metrics"]), {k: v for k, v in thr_o.items() if v is not None}))


def _nan(d: dict) -> dict:
    return {k: (np.nan if v is None else v) for k, v in d.items()}
