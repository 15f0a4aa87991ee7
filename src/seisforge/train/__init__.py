"""Training: losses, data, loop, checkpoints; the student picker it starts from (:mod:`seisforge.train.student`)."""
