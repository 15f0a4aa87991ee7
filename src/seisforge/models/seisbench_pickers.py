"""SeisBench pickers: class lookup, weight pairs and loading with ``weights_only`` torch loading."""

from __future__ import annotations

import json
import re
from pathlib import Path

from seisforge.errors import ConfigError, DataError, first_line
from seisforge.models.loaded import LoadedModel

_SUFFIX = re.compile(r"\.(json|pt)(\.v(?P<ver>[^/]+))?$")


def resolve_weight_pair(weights: str | Path) -> tuple[Path, str | None]:
    """Find the SeisBench weight pair named by ``weights``.

    Parameters
    ----------
    weights
        ``prefix`` (files ``prefix.json[.vN]`` + ``prefix.pt[.vN]``), one of the two files, or a folder
        that holds exactly one pair.

    Returns
    -------
    (prefix, version_str)
        Arguments for ``seisbench.models.<Class>.load(prefix, version_str=...)``.

    Raises
    ------
    DataError
        When no complete pair is found; the message lists what was looked for.
    """
    p = Path(weights)
    if p.is_dir():
        jsons = sorted(x for x in p.iterdir() if re.search(r"\.json(\.v[^/]+)?$", x.name))
        if len(jsons) != 1:
            raise DataError(
                f"weights folder {p} must hold exactly one SeisBench pair (*.json[.vN] + *.pt[.vN]); "
                f"found {[x.name for x in jsons]}"
            )
        p = jsons[0]
    m = _SUFFIX.search(p.name)
    if m:
        prefix = p.with_name(p.name[: m.start()])
        versions = [m.group("ver")]
    else:
        prefix = p
        versions = [None] + sorted(
            x.name.split(".json.v", 1)[1]
            for x in (prefix.parent.glob(prefix.name + ".json.v*") if prefix.parent.is_dir() else [])
        )[::-1]
    for ver in versions:
        suffix = f".v{ver}" if ver else ""
        js = prefix.with_name(prefix.name + ".json" + suffix)
        pt = prefix.with_name(prefix.name + ".pt" + suffix)
        if js.is_file() and pt.is_file():
            return prefix, ver
    raise DataError(
        f"weights not found: {weights} (expected {prefix}.json[.vN] and {prefix}.pt[.vN] side by side)"
    )


def load_pair(cls, prefix: Path, ver: str | None):
    """``cls.load`` of a weight pair, with a clear :class:`DataError` naming the file that is bad.

    The ``.json`` is parsed first (so its errors name it); any failure of the ``.pt`` (not a torch
    archive, truncated, refused by ``weights_only``, tensors that do not fit the class) names the pair.
    """
    suffix = f".v{ver}" if ver else ""
    js, pt = (prefix.with_name(prefix.name + ext + suffix) for ext in (".json", ".pt"))
    try:
        meta = json.loads(js.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"weights file {js} is not valid JSON: {err}") from err
    if not isinstance(meta, dict) or not isinstance(meta.get("model_args", {}), dict):
        raise DataError(f"weights file {js} is not SeisBench weight metadata (a JSON object with model_args)")
    try:
        return cls.load(prefix, version_str=ver, weights_only=True, map_location="cpu")
    except Exception as err:  # pickle, zip, EOF, key and shape errors all mean an unusable pair
        raise DataError(
            f"cannot load weights {pt} (with {js.name}) into {cls.__name__}: {first_line(err)}"
        ) from err


def label_string(model) -> str:
    """A model's class labels as one string in output order (``"PSN"``; list labels give initials)."""
    labels = model.labels
    return labels if isinstance(labels, str) else "".join(lab[0] for lab in labels)


NORMALISATION_ARGS = ("norm", "norm_amp_per_comp", "norm_detrend")


def normalisation_args(model) -> dict:
    """The constructor arguments that fix how a SeisBench picker normalises its windows.

    ``norm`` (``std``/``peak``), ``norm_amp_per_comp`` and ``norm_detrend``, those the model has. A
    student trained on a teacher's outputs must be built with the teacher's: both score the same
    normalised windows, and the student is deployed with them.
    """
    return {k: getattr(model, k) for k in NORMALISATION_ARGS if hasattr(model, k)}


def seisbench_class(name: str):
    """Return the SeisBench model class called ``name``, or raise a clear error.

    seisforge's own ``WaveformModel`` pickers (:class:`~seisforge.models.encoders.pickers.EncoderPicker`)
    are found by name too, so that their saved pairs load like SeisBench's.
    """
    import seisbench.models as sbm

    if name == "EncoderPicker":
        from seisforge.models.encoders.pickers import EncoderPicker

        return EncoderPicker
    cls = getattr(sbm, name, None)
    if cls is None or not isinstance(cls, type) or not issubclass(cls, sbm.WaveformModel):
        known = sorted(
            n for n in dir(sbm)
            if isinstance(getattr(sbm, n), type) and issubclass(getattr(sbm, n), sbm.WaveformModel)
            and n not in ("WaveformModel", "WaveformPipeline")
        )
        raise ConfigError(f"unknown SeisBench model class {name!r}; known: {', '.join(known)}")
    return cls


def load_seisbench(
    name: str, weights: str | Path | None = None, pretrained: str | None = None, allow_random: bool = False
) -> LoadedModel:
    """Load the SeisBench picker class ``name`` in eval mode.

    Parameters
    ----------
    name
        SeisBench model class (``PhaseNet``, ``PhaseNetLight``, ...).
    weights
        A SeisBench weight pair (see :func:`resolve_weight_pair`), loaded with ``weights_only=True``.
    pretrained
        A SeisBench hub name (needs network or the SeisBench cache).
    allow_random
        Without ``weights`` and ``pretrained``: a randomly initialised model instead of an error.

    Returns
    -------
    LoadedModel
        The model with its source (``PREFIX (vN)``, ``pretrained:NAME`` or ``random-init``).
    """
    cls = seisbench_class(name)
    if weights is not None and pretrained is not None:
        raise ConfigError("give either weights or pretrained, not both")
    if weights is not None:
        prefix, ver = resolve_weight_pair(weights)
        model = load_pair(cls, prefix, ver)
        source = f"{prefix}" + (f" (v{ver})" if ver else "")
    elif pretrained is not None:
        try:
            model = cls.from_pretrained(pretrained)
        except Exception as err:  # network or cache problems surface with the name
            raise DataError(
                f"could not load pretrained weights {name}/{pretrained!r}: {err}. "
                "This needs network access or the SeisBench cache (~/.seisbench)."
            ) from err
        source = f"pretrained:{pretrained}"
    elif allow_random:
        model = cls()
        source = "random-init"
    else:
        raise ConfigError(f"seisbench:{name} needs --weights PATH or --pretrained NAME")
    model.eval()
    return LoadedModel(model, source=source, spec=f"seisbench:{name}")
