"""Fixtures of the continuous-picking tests: the PhaseNetLight ETHZ weights from ``shared``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seisforge.testing import continuous_stream


@pytest.fixture(scope="session")
def weights(shared: Path) -> str:
    """Prefix of the shared PhaseNetLight ETHZ weight pair (skips when absent)."""
    prefix = shared / "models" / "phasenetlight_ethz" / "ethz"
    if not prefix.with_name("ethz.json.v2").is_file():
        pytest.skip(f"PhaseNetLight weights not found under {prefix.parent}")
    return str(prefix)


@pytest.fixture(scope="session")
def model(weights: str):
    """The loaded PhaseNetLight model (shared by the tests of a session)."""
    from seisforge.models.registry import load_model

    return load_model("seisbench:PhaseNetLight", weights=weights).model





def write_clean_archive(root: Path, stations: list[str], days: list[str], duration_s: float = 1200.0,
                        n_events: int = 6) -> Path:
    """One miniSEED file per station-day starting at 00:00 of each day."""
    root.mkdir(parents=True, exist_ok=True)
    for si, sta in enumerate(stations):
        for di, day in enumerate(days):
            st, _ = continuous_stream(sta, start=day, duration_s=duration_s, n_events=n_events,
                                      seed=100 * si + di)
            st.write(str(root / f"{sta}.{day}.mseed"), format="MSEED", encoding="FLOAT32")
    return root


def write_messy_archive(root: Path) -> dict[str, str]:
    """Files with each messy case; returns a description per case."""
    root.mkdir(parents=True, exist_ok=True)
    day = "2024-03-01"
    cases = {}
    # gaps (all components) and an overlap with identical samples (merged)
    st, _ = continuous_stream("XG.GAP.00", start=day, duration_s=900, n_events=4, seed=1)
    t0 = st[0].stats.starttime
    first = st.slice(endtime=t0 + 400)
    second = st.slice(t0 + 500)
    dup = st.slice(t0 + 600, t0 + 700)  # identical overlap
    (first + second).write(str(root / "gap_a.mseed"), format="MSEED", encoding="FLOAT32")
    dup.write(str(root / "gap_dup.mseed"), format="MSEED", encoding="FLOAT32")
    cases["gap"] = "XG.GAP.00"
    # conflicting overlap: a second record of the same time span with other samples
    st, _ = continuous_stream("XO.OVL.", start=day, duration_s=600, n_events=2, seed=2)
    st.write(str(root / "ovl_a.mseed"), format="MSEED", encoding="FLOAT32")
    other = st.slice(st[0].stats.starttime + 100, st[0].stats.starttime + 200).copy()
    for tr in other:
        tr.data = tr.data + np.float32(1.0)
    other.write(str(root / "ovl_b.mseed"), format="MSEED", encoding="FLOAT32")
    cases["overlap_conflict_removed"] = "XO.OVL."
    # mixed sampling rates on one channel: 50 Hz then 100 Hz
    st, _ = continuous_stream("XM.MIX.", start=day, duration_s=600, n_events=2, seed=3)
    t0 = st[0].stats.starttime
    a = st.slice(endtime=t0 + 300 - 0.01).copy()
    a.decimate(2, no_filter=False)
    for tr in a:
        tr.data = tr.data.astype(np.float32)
    b = st.slice(t0 + 300)
    a.write(str(root / "mix_50hz.mseed"), format="MSEED", encoding="FLOAT32")
    b.write(str(root / "mix_100hz.mseed"), format="MSEED", encoding="FLOAT32")
    cases["mixed_sampling_rate"] = "XM.MIX."
    # missing components (Z only) and Z12 channels, one as SAC
    st, _ = continuous_stream("XZ.ZON.", start=day, duration_s=600, n_events=2, seed=4)
    st.select(channel="HHZ").write(str(root / "zonly.mseed"), format="MSEED", encoding="FLOAT32")
    st, _ = continuous_stream("X1.Z12.", start=day, duration_s=600, n_events=2, seed=5, components="Z12")
    for tr in st:
        tr.write(str(root / f"z12_{tr.stats.channel}.sac"), format="SAC")
    # a segment shorter than the window, NaN samples
    st, _ = continuous_stream("XS.SHO.", start=day, duration_s=12, n_events=0, seed=6)
    st.write(str(root / "short.mseed"), format="MSEED", encoding="FLOAT32")
    st, _ = continuous_stream("XN.NAN.", start=day, duration_s=600, n_events=2, seed=7)
    for tr in st:
        tr.data[2000:2300] = np.nan
    st.write(str(root / "nan.mseed"), format="MSEED", encoding="FLOAT32")
    # corrupt and truncated files
    (root / "notes.txt").write_bytes(b"not a seismogram " * 64)
    st, _ = continuous_stream("XC.COR.", start=day, duration_s=600, n_events=2, seed=9)
    st.write(str(root / "cor.tmp"), format="MSEED", encoding="FLOAT32", reclen=4096)
    raw = bytearray((root / "cor.tmp").read_bytes())
    (root / "cor.tmp").unlink()
    raw[4096 + 52] = 99  # unknown data encoding in the second record
    (root / "corrupt.mseed").write_bytes(bytes(raw))
    st, _ = continuous_stream("XT.TRU.", start=day, duration_s=600, n_events=2, seed=8)
    st.write(str(root / "full.tmp"), format="MSEED", encoding="FLOAT32")
    raw = (root / "full.tmp").read_bytes()
    (root / "full.tmp").unlink()
    (root / "truncated.mseed").write_bytes(raw[: len(raw) // 2 + 1000])
    return cases


@pytest.fixture()
def messy_archive(tmp_path: Path) -> Path:
    """A folder with every messy-archive case (see :func:`write_messy_archive`)."""
    write_messy_archive(tmp_path / "archive")
    return tmp_path / "archive"


@pytest.fixture()
def clean_archive():
    """Factory: ``clean_archive(root, stations, days, duration_s)`` writes one file per station-day."""
    return write_clean_archive
