"""seisforge.bench.picking."""
