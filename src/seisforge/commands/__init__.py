"""CLI command groups. Each module defines ``register(subparsers)``; see :mod:`seisforge.cli`."""
