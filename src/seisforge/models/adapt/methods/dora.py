"""``dora``: weight-decomposed LoRA (PEFT ``use_dora=True``); see :mod:`.lora` for the mechanics."""

from __future__ import annotations

from seisforge.models.adapt.common import Method
from seisforge.models.adapt.methods.lora import apply, merge

METHOD = Method("dora", True, "low-rank A/B and a magnitude vector per targeted body layer, and the head",
                apply, merge)
