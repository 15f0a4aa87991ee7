"""``seisforge associate``: picks -> events with PyOcto or GaMMA (adapters only; see docs/catalog.md).

- :mod:`.inputs`: picks (``seisforge pick`` Parquet) and stations (CSV or StationXML), projected to km,
  with bad input counted;
- :mod:`.settings`: the run's settings and the documented defaults of each associator;
- :mod:`.pyocto_adapter`, :mod:`.gamma_adapter` (+ :mod:`.gamma_worker`, run in GaMMA's own venv);
- :mod:`.chunks`: overlapping time chunks, Ray tasks, resumable state, de-duplication, outputs.
"""
