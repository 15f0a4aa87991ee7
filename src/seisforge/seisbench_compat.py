"""The one door to SeisBench's private API.

seisforge follows SeisBench's ``classify`` windowing exactly and edits dataset metadata in place, and
neither is possible through SeisBench's public API alone. Every use of a private SeisBench name goes
through this module, so that a SeisBench release that changes them breaks here, in one place, with a
clear message (:func:`missing_private_names`, checked by ``tests/test_seisbench_compat.py``), and the
``seisbench`` bound in ``pyproject.toml`` is the range these names were tested on.

What it relies on:

``seisbench.data.WaveformDataset``
    ``_metadata`` (the metadata frame behind the public, read-only ``metadata``),
    ``_rebuild_metadata_cache()`` and ``_build_trace_name_to_idx_dict()``.
``seisbench.models.WaveformModel``
    ``_grouping`` (a ``GroupingHelper`` with ``grouping``, ``group_stream`` and
    ``trace_id_without_component``), ``_annotate_args``, ``_argdict_get_with_default``,
    ``_build_comp_dict``, ``_get_in_pred_samples``, ``_get_overlap`` and ``_parse_metadata``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; a picking process need not pay it
    import pandas as pd

#: (class path, attribute) pairs this module uses; instance attributes are checked on an instance.
DATASET_METHODS = ("_rebuild_metadata_cache", "_build_trace_name_to_idx_dict")
MODEL_METHODS = ("_argdict_get_with_default", "_build_comp_dict", "_get_in_pred_samples", "_get_overlap",
                 "_parse_metadata")
MODEL_CLASS_ATTRS = ("_annotate_args",)
GROUPING_METHODS = ("group_stream", "trace_id_without_component")


# ----------------------------------------------------------------------------- datasets
def set_metadata_column(ds: Any, column: str, values: Any) -> None:
    """Set one column of a SeisBench dataset's metadata in place (``ds.metadata`` is read-only)."""
    ds._metadata[column] = values


def replace_metadata(ds: Any, frame: pd.DataFrame) -> None:
    """Replace a dataset's metadata frame (same rows) and rebuild SeisBench's per-row cache."""
    ds._metadata = frame
    ds._rebuild_metadata_cache()


def rebuild_trace_index(ds: Any) -> None:
    """Rebuild SeisBench's trace-name index after the metadata's keys changed."""
    ds._build_trace_name_to_idx_dict()


# ----------------------------------------------------------------------------- models
def grouping(model: Any) -> str:
    """The model's grouping mode (``"instrument"``, ``"channel"`` or ``"full"``)."""
    return model._grouping.grouping


def argdict_get(model: Any, argdict: dict, key: str) -> Any:
    """An annotate argument from ``argdict``, else the model's default."""
    return model._argdict_get_with_default(argdict, key)


def default_threshold(model: Any, fallback: float = 0.3) -> float:
    """The model's default ``*_threshold`` annotate argument, else SeisBench's ``fallback``."""
    return model._annotate_args.get("*_threshold", (None, fallback))[1]


def apply_weights_metadata(model: Any, meta: dict) -> None:
    """What ``SeisBenchModel.load`` does with a weights' JSON after building the model (default args)."""
    model._weights_metadata = meta
    model._parse_metadata()


def annotate_args_copy(cls: Any) -> dict:
    """A copy of a model class's annotate-argument table, for a subclass that keeps its defaults.

    SeisBench reads thresholds, overlap and blinding from the class attribute ``_annotate_args``, so a
    new ``WaveformModel`` subclass must define it under that name.
    """
    return dict(cls._annotate_args)


def default_annotate_arg(model: Any, key: str) -> Any:
    """The default value of one annotate argument of ``model``."""
    return model._annotate_args[key][1]


def build_comp_dict(model: Any, stream: Any, flexible_horizontal_components: bool) -> tuple[dict, str]:
    """SeisBench's channel-code → model-component mapping for ``stream``."""
    return model._build_comp_dict(stream, flexible_horizontal_components)


def group_stream(model: Any, stream: Any, **kwargs: Any) -> list:
    """Group ``stream`` the way ``annotate`` does (per instrument for array pickers)."""
    return model._grouping.group_stream(stream, **kwargs)


def trace_id_without_component(model: Any, trace: Any) -> str:
    """The instrument id of ``trace`` (network.station.location.channel-band) as SeisBench keys it."""
    return model._grouping.trace_id_without_component(trace)


def in_pred_samples(model: Any, grouped_data: Any) -> tuple[int, int]:
    """Input and prediction samples of the model for a ``GroupedTraceData``."""
    return model._get_in_pred_samples(grouped_data)


def window_overlap(model: Any, in_samples: int, argdict: dict) -> int:
    """Overlap in samples between consecutive annotate windows."""
    return int(model._get_overlap(in_samples, argdict))


def annotate_arg_defaults(model: Any) -> dict[str, Any]:
    """The default of every annotate argument of ``model`` (SeisBench's ``_annotate_args`` without the docs)."""
    return {key: value[1] for key, value in model._annotate_args.items()}


#: the WaveformModel methods whose default behaviour :mod:`seisforge.deploy.lean` re-implements
LEAN_METHODS = ("annotate_stream_pre", "annotate_stream_validate", "_argdict_get_with_default", "_get_overlap",
                "_get_in_pred_samples", "_build_comp_dict")


def lean_compatible(model: Any) -> bool:
    """True when ``model`` follows the SeisBench rules :mod:`seisforge.deploy.lean` re-implements.

    SeisBench's own ``WaveformModel`` methods for stream handling, windows and components (none
    overridden), PhaseNet's ``annotate_batch_post``, instrument grouping by the stock helper, and no
    stream filter.
    """
    import seisbench.models as sbm
    from seisbench.models.base import GroupingHelper

    cls = type(model)
    return (all(getattr(cls, name, None) is getattr(sbm.WaveformModel, name) for name in LEAN_METHODS)
            and getattr(cls, "annotate_batch_post", None) is sbm.PhaseNet.annotate_batch_post
            and type(getattr(model, "_grouping", None)) is GroupingHelper and grouping(model) == "instrument"
            and getattr(model, "filter_args", None) is None and getattr(model, "filter_kwargs", None) is None)


# ----------------------------------------------------------------------------- check
def missing_private_names() -> list[str]:
    """The private SeisBench names this module uses that the installed SeisBench lacks.

    Builds a tiny PhaseNet (random weights, no download) and an in-memory dataset class check, so that
    instance attributes set in constructors (``_grouping``, ``_metadata``) are checked too.
    """
    import seisbench.data as sbd
    import seisbench.models as sbm

    missing = [f"WaveformDataset.{n}" for n in DATASET_METHODS if not hasattr(sbd.WaveformDataset, n)]
    missing += [f"WaveformModel.{n}" for n in MODEL_METHODS + MODEL_CLASS_ATTRS
                if not hasattr(sbm.WaveformModel, n)]
    model = sbm.PhaseNet()
    helper = getattr(model, "_grouping", None)
    if helper is None:
        missing.append("WaveformModel._grouping")
    else:
        missing += [f"GroupingHelper.{n}" for n in GROUPING_METHODS + ("grouping",) if not hasattr(helper, n)]
    if "_metadata" not in _dataset_init_attrs(sbd):
        missing.append("WaveformDataset._metadata")
    return missing


def _dataset_init_attrs(sbd: Any) -> set[str]:
    """Attribute names a ``WaveformDataset`` assigns to ``self`` (read from its source, no files)."""
    import inspect
    import re

    src = inspect.getsource(sbd.WaveformDataset)
    return set(re.findall(r"self\.(_?\w+)\s*=", src))

