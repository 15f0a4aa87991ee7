"""Training: losses, data, loop, checkpoints; registers the ``run:`` and ``ensemble:`` model specs."""

from seisforge.train import models as _models  # noqa: F401  (registers model spec loaders)
