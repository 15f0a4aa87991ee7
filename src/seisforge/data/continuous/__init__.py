"""Continuous waveform archives: station-day units from files, SDS or FDSN, format detection and reading,
and the stream clean-up every consumer applies (``seisforge pick`` and pretraining read through here)."""
