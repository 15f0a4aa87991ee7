"""Self-supervised pretraining of foundation encoders on unlabelled waveforms (``seisforge pretrain``).

- :mod:`.config`: typed configuration; :mod:`.windows`: window sources, QC, seeded datasets;
- :mod:`.objectives`: masked reconstruction and contrastive InfoNCE, priors; :mod:`.loop`: the loop.

The run directory it writes is read by :func:`seisforge.models.encoders.pretrained.load_pretrained_encoder`.
"""
