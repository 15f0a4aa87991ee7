"""seisforge.bench."""
