"""The installed SeisBench still has every private name seisforge relies on."""

import seisbench

from seisforge import seisbench_compat


def test_installed_seisbench_has_the_private_names_we_use():
    missing = seisbench_compat.missing_private_names()
    assert not missing, (
        f"SeisBench {seisbench.__version__} lacks private names seisforge relies on: {missing}. "
        "Update seisforge/seisbench_compat.py, or install a SeisBench inside the bound in pyproject.toml."
    )


def test_the_check_reports_a_missing_name(monkeypatch):
    monkeypatch.setattr(seisbench_compat, "MODEL_METHODS", ("_no_such_private_method",))
    assert seisbench_compat.missing_private_names() == ["WaveformModel._no_such_private_method"]
