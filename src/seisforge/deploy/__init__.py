"""seisforge.deploy."""
