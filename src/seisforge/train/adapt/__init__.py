"""``seisforge adapt``: adaptation runs (the training loop on an adapted model) and their merge.

The methods themselves (apply, save/load/merge of adapters, accounting) live in
:mod:`seisforge.models.adapt`, so that the model registry can load an adapted run without training code;
they are re-exported here for training-side callers.
"""

from seisforge.models.adapt import (
    METHOD_NAMES,
    METHODS,
    AdaptConfig,
    ParamAccount,
    account,
    adamw_state_bytes,
    apply,
    base_hash,
    get_method,
    load_adapter,
    merge,
    read_adapter,
    save_adapter,
)

__all__ = ["METHODS", "METHOD_NAMES", "AdaptConfig", "ParamAccount", "account", "adamw_state_bytes", "apply",
           "base_hash", "get_method", "load_adapter", "merge", "read_adapter", "save_adapter"]
