"""Command-line entry point: ``seisforge <group> <verb>``.

Every module in :mod:`seisforge.commands` that defines ``register(subparsers)`` contributes one
top-level group or verb (``data``, ``bench``, ``train``, ``pick``, ``ctf``, ...) and returns the
group's sub-parsers object (or None). A module that sets ``EXTENDS = "<group>"`` and defines
``register_verbs(subparsers)`` adds verbs to an existing group, so features can live in their own
modules. Heavy imports happen inside the handlers, so ``seisforge --help`` stays fast.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import pkgutil
import sys
import traceback

from seisforge import __version__
from seisforge.errors import SeisforgeError, first_line

#: exit code of an unexpected exception (a bug), as in BSD sysexits' EX_SOFTWARE
BUG_EXIT = 70
#: exit code after Ctrl-C, as shells report SIGINT
INTERRUPT_EXIT = 130
#: options that name outputs; a write error without a file name (a full disk on close) names these
OUTPUT_OPTIONS = ("out", "csv", "quakeml", "report")
_ERRNO_TEXT = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "already exists",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "file name too long",
}


class _Parser(argparse.ArgumentParser):
    """Argument parser whose usage errors are one line: ``seisforge: error: <verb>: <problem>``."""

    def error(self, message: str):  # noqa: D102 - argparse API
        verb = self.prog.removeprefix("seisforge").strip()
        self.exit(2, f"seisforge: error: {verb + ': ' if verb else ''}{message} (see: {self.prog} --help)\n")


def os_error_message(err: OSError, args: argparse.Namespace | None = None) -> str:
    """One line for a file-system error: what went wrong and with which path.

    A write that fails on flush or close (a full disk, ``--csv /dev/full``) carries no file name;
    then the command's output options are named instead.
    """
    what = _ERRNO_TEXT.get(err.errno or -1, err.strerror or str(err))
    paths = [p for p in (err.filename, err.filename2) if p is not None]
    if err.errno == errno.EEXIST and paths and os.path.isfile(paths[0]):  # mkdir on a file
        what = "is a file, not a folder"
    if paths:
        return f"{' -> '.join(map(str, paths))}: {what}"
    outs = [f"--{k} {getattr(args, k)}" for k in OUTPUT_OPTIONS if getattr(args, k, None)]
    return f"{what} ({type(err).__name__}) while reading or writing " + (", ".join(outs) or "files")


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser from the command modules."""
    import seisforge.commands as commands

    parser = _Parser(prog="seisforge", description=__doc__.splitlines()[0])
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


def _fail(message: str, code: int) -> int:
    print(f"seisforge: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the process exit code.

    User problems (:class:`~seisforge.errors.SeisforgeError`, file-system errors, Ctrl-C) print one
    ``seisforge: error:`` line. Anything else is a bug: one line says so and how to report it; ``-v``
    adds the traceback.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed as one line
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        code = args.func(args)
    except SeisforgeError as err:
        return _fail(str(err), err.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted (Ctrl-C); outputs of this run may be incomplete", INTERRUPT_EXIT)
    except OSError as err:
        if args.verbose:
            traceback.print_exc()
        return _fail(os_error_message(err, args), 2)
    except MemoryError:
        return _fail("out of memory; try a smaller --batch-size or fewer --workers", 2)
    except Exception as err:  # a bug: say so, never a bare traceback unless asked for
        if args.verbose:
            traceback.print_exc()
        hint = "" if args.verbose else "; rerun with -v (seisforge -v ...) to see the traceback"
        return _fail(
            f"internal error, this is a bug in seisforge {__version__}: {first_line(err)}. "
            f"Please report it to the seisforge maintainers with the command line and its output{hint}",
            BUG_EXIT,
        )
    return int(code or 0)


def run() -> None:
    """The ``seisforge`` program: :func:`main`, then exit with its code.

    Before the interpreter shuts down, every object is moved out of the garbage collector's reach
    (``gc.freeze``): the process ends, its memory goes back to the system either way, and the final
    collections over every imported module's objects only cost time (~0.1 s of a one-station-day
    process, see docs/compression.md). Only the program does this, never :func:`main` (tests call it).
    """
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
