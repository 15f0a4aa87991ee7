"""seisforge.models."""
