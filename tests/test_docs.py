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


def _layout_entries() -> list[str]:
    readme = (DOCS.parent / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    return re.findall(r"^  ([a-z_]+(?:\.py|/))", block, flags=re.M)


def test_readme_layout_matches_the_package_tree():
    src = DOCS.parent / "src" / "seisforge"
    listed = set(_layout_entries())
    actual = {p.name + ("/" if p.is_dir() else "") for p in src.iterdir()
              if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.name != "__init__.py")}
    assert listed == actual, f"README layout lists {sorted(listed - actual)} that do not exist and misses {sorted(actual - listed)}"


def test_architecture_doc_names_every_package():
    text = (DOCS / "architecture.md").read_text()
    src = DOCS.parent / "src" / "seisforge"
    packages = [p.name for p in src.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    assert all(f"{name}/" in text for name in packages), packages
