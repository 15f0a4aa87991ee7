"""Built-in renderers, one module per kind; :func:`seisforge.report.build.renderers` imports them all."""
