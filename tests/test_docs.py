"""Documentation that states schemas must match the code."""

from __future__ import annotations

import re
from pathlib import Path

from seisforge.data.manifest_columns import MANIFEST_COLUMNS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _table_columns(text: str, heading: str) -> list[str]:
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)


def test_formats_manifest_schema_matches_code():
    cols = _table_columns((DOCS / "formats.md").read_text(), "## Manifest (`data manifest`)")
    assert cols == MANIFEST_COLUMNS


def test_datasets_manifest_schema_matches_code():
    cols = _table_columns((DOCS / "datasets.md").read_text(), "## Manifest Parquet schema")
    assert cols == MANIFEST_COLUMNS
