"""Parameter-efficient adaptation of pretrained encoders, PEFT-style: one module per method, one config.

Typical use::

    cfg = AdaptConfig("lora", rank=8)
    h = base_hash(model, cfg)            # before adaptation
    model = apply(model, cfg)            # freezes and wraps in place
    print(account(model).format())
    ...train...
    save_adapter(model, "lora.safetensors", h, cfg)
    model = load_adapter(fresh_base, "lora.safetensors")
    plain = merge(model, cfg)            # mergeable methods only

See ``docs/foundation_methods.md`` for what each method trains and costs.
"""

from seisforge.models.adapt.accounting import ParamAccount, account, adamw_state_bytes
from seisforge.models.adapt.config import METHOD_NAMES, AdaptConfig
from seisforge.models.adapt.io import apply, base_hash, load_adapter, merge, read_adapter, save_adapter
from seisforge.models.adapt.methods import METHODS, get_method

__all__ = ["METHODS", "METHOD_NAMES", "AdaptConfig", "ParamAccount", "account", "adamw_state_bytes", "apply",
           "base_hash", "get_method", "load_adapter", "merge", "read_adapter", "save_adapter"]
