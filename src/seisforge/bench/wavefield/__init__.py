"""seisforge.bench.wavefield."""
