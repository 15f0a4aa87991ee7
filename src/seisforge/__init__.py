"""seisforge: machine learning on seismic data, reproducible end to end."""

__version__ = "0.1.0"
