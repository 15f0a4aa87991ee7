"""seisforge.data."""
