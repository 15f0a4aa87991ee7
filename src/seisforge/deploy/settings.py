"""The settings of a picking run that travel with every station-day (also to Ray workers)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class PickSettings:
    """Everything that determines the picks (recorded in ``run.json``; a rerun must match)."""

    model: str = "seisbench:PhaseNet"
    weights: str | None = None
    pretrained: str | None = None
    random_init: bool = False
    P_threshold: float | None = None
    S_threshold: float | None = None
    overlap: float | None = None
    blinding: tuple[int, int] | None = None
    stacking: str | None = None
    strict: bool = False
    batch_size: int = 256
    device: str = "cpu"
    backend: str = "auto"
    precision: str = "auto"
    threads: int | None = None

    def pick_kwargs(self) -> dict[str, Any]:
        """SeisBench annotate/classify keyword arguments (unset ones keep the model defaults)."""
        kw: dict[str, Any] = {
            "P_threshold": self.P_threshold, "S_threshold": self.S_threshold, "overlap": self.overlap,
            "blinding": tuple(self.blinding) if self.blinding is not None else None,
            "stacking": self.stacking, "strict": self.strict or None,
        }
        return {k: v for k, v in kw.items() if v is not None}

    def identity(self) -> dict[str, Any]:
        """Settings that change the pick set (batch size, device, backend, precision and threads do not)."""
        d = asdict(self)
        for k in ("batch_size", "device", "backend", "precision", "threads"):
            d.pop(k)
        if d["blinding"] is not None:
            d["blinding"] = list(d["blinding"])
        return d

    def settings_hash(self) -> str:
        """Short SHA-256 of :meth:`identity`; every unit state records it (a rerun redoes units without a match)."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:16]
