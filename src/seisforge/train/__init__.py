"""seisforge.train."""
