"""Command-line entry point: ``seisforge <group> <verb>``.

Every module in :mod:`seisforge.commands` that defines ``register(subparsers)`` contributes one
top-level group or verb (``data``, ``bench``, ``train``, ``pick``, ``ctf``, ...) and returns the
group's sub-parsers object (or None). A module that sets ``EXTENDS = "<group>"`` and defines
``register_verbs(subparsers)`` adds verbs to an existing group, so features can live in their own
modules. Heavy imports happen inside the handlers, so ``seisforge --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from seisforge import __version__
from seisforge.errors import SeisforgeError


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser from the command modules."""
    import seisforge.commands as commands

    parser = argparse.ArgumentParser(prog="seisforge", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"seisforge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="group", metavar="GROUP")
    sub.required = True
    modules = [
        importlib.import_module(f"seisforge.commands.{info.name}")
        for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name)
        if not info.name.startswith("_")
    ]
    groups = {}
    for module in modules:
        if hasattr(module, "register") and not hasattr(module, "EXTENDS"):
            groups[module.__name__.rsplit(".", 1)[1]] = module.register(sub)
    for module in modules:
        if hasattr(module, "EXTENDS"):
            target = groups.get(module.EXTENDS)
            if target is None:
                raise RuntimeError(f"{module.__name__} extends unknown group {module.EXTENDS!r}")
            module.register_verbs(target)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        code = args.func(args)
    except SeisforgeError as err:
        print(f"seisforge: error: {err}", file=sys.stderr)
        return err.exit_code
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
