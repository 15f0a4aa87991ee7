"""``seisforge adapt``: adaptation runs (the training loop on an adapted model) and their merge.

The methods themselves (apply, save/load/merge of adapters, accounting) live in
:mod:`seisforge.models.adapt`, so that the model registry can load an adapted run without training code;
import them from there.
"""
