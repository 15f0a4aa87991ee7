"""``seisforge report``: one self-contained HTML page over any seisforge outputs.

:func:`~seisforge.report.build.build_report` detects what each path is (a renderer per kind, see
:mod:`seisforge.report.core`) and writes ``index.html`` with embedded images and scripts. How to add a
kind: ``docs/report.md``.
"""

from seisforge.report.build import build_report, detect
from seisforge.report.core import register

__all__ = ["build_report", "detect", "register"]
