"""Network synthetics, association (PyOcto, GaMMA), chunking/resume, QuakeML, and the catalog benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seisforge.bench.catalog import event_rows, match_events, scores
from seisforge.data.network import NetworkConfig, draw_network, synthesize_network, velocity_model
from seisforge.data.velocity import load_velocity_model
from seisforge.deploy.associate.run import run_association
from seisforge.errors import ConfigError
from seisforge.testing import write_picks_dir

pytest.importorskip("pyocto")


def _gamma_available() -> bool:
    from seisforge.deploy.associate.gamma_adapter import gamma_python

    try:
        gamma_python()
        return True
    except ConfigError:
        return False


def clean_network(root: Path, hours: float = 3.0, seed: int = 2, events_per_day: float = 160.0):
    """Stations, velocity model, reference catalog and true-arrival picks (no waveforms, no picker)."""
    cfg = NetworkConfig(stations=8, hours=hours, events_per_day=events_per_day, seed=seed)
    stations, events, arrivals = draw_network(cfg)
    root.mkdir(parents=True, exist_ok=True)
    stations.to_csv(root / "stations.csv", index=False)
    velocity_model().write(root / "velocity_model.yaml")
    events.assign(visible=True).to_csv(root / "catalog.csv", index=False)
    arrivals.assign(above_noise=True).to_csv(root / "arrivals.csv", index=False)
    write_picks_dir(arrivals.assign(time=arrivals["recorded_time"]), root / "picks")
    return events, arrivals


def _score(found_dir: Path, root: Path) -> dict:
    from seisforge.data.catalog_io import read_events

    found, fp = read_events(found_dir)
    ref, rp = read_events(root / "catalog.csv")
    m = match_events(ref, found, 3.0, 15.0)
    return scores(event_rows(ref, found, m, rp, fp, 0.5))


def test_network_arrivals_follow_the_velocity_model(tmp_path):
    cfg = NetworkConfig(stations=3, hours=1.0, events_per_day=200, seed=5, transients_per_day=0)
    synthesize_network(cfg, tmp_path, progress=False)
    st = pd.read_csv(tmp_path / "stations.csv")
    ev = pd.read_csv(tmp_path / "catalog.csv")
    arr = pd.read_csv(tmp_path / "arrivals.csv")
    vm = load_velocity_model(tmp_path / "velocity_model.yaml")
    vp0, g = vm.vp[0], (vm.vp[1] - vm.vp[0]) / (vm.depth_km[1] - vm.depth_km[0])
    for _, a in arr.head(6).iterrows():  # by hand: ray in a linear gradient v = v0 + g z
        e, s = ev.set_index("event_id").loc[a.event_id], st.set_index("id").loc[a.trace_id]
        x = np.hypot(e.x_km - s.x_km, e.y_km - s.y_km)
        scale = 1.0 if a.phase == "P" else vp0 / vm.vs[0]
        v0, gg = vp0 / scale, g / scale
        tt = np.arccosh(1 + gg**2 * (x**2 + e.depth_km**2) / (2 * (v0 + gg * e.depth_km) * v0)) / gg
        t = (pd.Timestamp(a.time) - pd.Timestamp(e.time)).total_seconds()
        assert abs(t - tt) < 2e-3
    # the waveform carries the arrival: Z energy jumps at the strongest P
    import obspy

    p = arr[arr.phase == "P"].sort_values("snr").iloc[-1]
    tr = obspy.read(str(next((tmp_path / "sds").rglob(f"*{p.trace_id.split('.')[1]}*HHZ*"))))[0]
    t = obspy.UTCDateTime(p.recorded_time)
    before, after = tr.slice(t - 2, t - 0.05).data, tr.slice(t + 0.05, t + 2).data
    assert np.abs(after).max() > 2.5 * np.abs(before).max()
    assert (tmp_path / "inventory.xml").is_file() and (tmp_path / "catalog.xml").is_file()


def test_pyocto_table_matches_exact_travel_times():
    from seisforge.data.synthetic import travel_time
    from seisforge.deploy.associate.pyocto_adapter import travel_time_table

    p, s = travel_time_table(velocity_model(), 120.0, 30.0, 0.5)
    for x, z in ((10.0, 5.0), (60.0, 12.0), (110.0, 25.0)):
        i, j = int(x / 0.5), int(z / 0.5)
        assert abs(p[i, j] - travel_time(np.array(x), np.array(z), "P")) < 0.04
        assert abs(s[i, j] - travel_time(np.array(x), np.array(z), "S")) < 0.07


@pytest.mark.parametrize("method", ["pyocto", "gamma"])
def test_associator_recovers_a_clean_catalog(tmp_path, method):
    if method == "gamma" and not _gamma_available():
        pytest.skip("GaMMA environment (.venv-gamma) not built: make gamma-venv")
    clean_network(tmp_path, hours=2.0)
    run_association(tmp_path / "picks", tmp_path / "stations.csv", method, tmp_path / "cat",
                    velocity_model=tmp_path / "velocity_model.yaml", progress=False)
    m = _score(tmp_path / "cat", tmp_path)
    assert m["precision"] >= 0.95 and m["recall"] >= 0.95, m
    assert m["pick_precision"] >= 0.95 and m["pick_recall"] >= 0.9, m
    assert m["epicentral_km_mae"] < 3.0 and m["origin_time_s_mae"] < 0.5, m


def test_chunked_association_equals_one_chunk_on_a_day(tmp_path):
    clean_network(tmp_path, hours=24.0, events_per_day=40, seed=4)
    kw = dict(velocity_model=tmp_path / "velocity_model.yaml", progress=False)
    (tmp_path / "one.yaml").write_text("chunk_s: 172800\n")
    run_association(tmp_path / "picks", tmp_path / "stations.csv", "pyocto", tmp_path / "one",
                    config=tmp_path / "one.yaml", **kw)
    rep = run_association(tmp_path / "picks", tmp_path / "stations.csv", "pyocto", tmp_path / "many", **kw)
    assert rep.notes["chunks"] >= 24 and rep.notes["events_dropped_in_overlaps"] > 0
    one, many = (pd.read_parquet(tmp_path / d / "events.parquet") for d in ("one", "many"))
    assert many["event_id"].is_unique and many["event_id"].str.fullmatch(r"pyocto_\d{8}T\d{6}\.\d{3}(_\d+)?").all()
    assert list(one["event_id"]) == list(many["event_id"])
    np.testing.assert_allclose(one[["x_km", "y_km", "depth_km"]], many[["x_km", "y_km", "depth_km"]], atol=1e-6)
    a1, a2 = (pd.read_parquet(tmp_path / d / "assignments.parquet") for d in ("one", "many"))
    pd.testing.assert_frame_equal(a1[["pick_id", "event_id"]], a2[["pick_id", "event_id"]])


def test_kill_and_resume_give_the_same_catalog(tmp_path):
    clean_network(tmp_path, hours=4.0, seed=6)
    args = (tmp_path / "picks", tmp_path / "stations.csv", "pyocto")
    kw = dict(velocity_model=tmp_path / "velocity_model.yaml", progress=False)
    run_association(*args, tmp_path / "full", **kw)
    run_association(*args, tmp_path / "killed", max_chunks=2, **kw)  # what a kill after two chunks leaves
    assert not (tmp_path / "killed" / "events.parquet").exists()
    (tmp_path / "killed" / "chunks" / ".stale.parquet.x.tmp").write_text("half-written")
    rep = run_association(*args, tmp_path / "killed", **kw)
    assert rep.processed == rep.notes["chunks"]
    for name in ("events.parquet", "assignments.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "full" / name),
                                      pd.read_parquet(tmp_path / "killed" / name))
    with pytest.raises(ConfigError, match="other settings"):
        (tmp_path / "c.yaml").write_text("chunk_s: 600\n")
        run_association(*args, tmp_path / "killed", config=tmp_path / "c.yaml", **kw)


def test_quakeml_round_trips_through_obspy(tmp_path):
    import obspy

    from seisforge.data.catalog_io import read_quakeml

    clean_network(tmp_path, hours=1.0)
    run_association(tmp_path / "picks", tmp_path / "stations.csv", "pyocto", tmp_path / "cat",
                    velocity_model=tmp_path / "velocity_model.yaml", progress=False)
    events = pd.read_parquet(tmp_path / "cat" / "events.parquet")
    asg = pd.read_parquet(tmp_path / "cat" / "assignments.parquet")
    cat = obspy.read_events(str(tmp_path / "cat" / "catalog.xml"))
    assert len(cat) == len(events) > 0
    for ev in cat:
        origin = ev.preferred_origin()
        assert origin is not None and len(origin.arrivals) == len(ev.picks) > 0
        ids = {str(p.resource_id) for p in ev.picks}
        assert all(str(a.pick_id) in ids and a.pick_id.get_referred_object() is not None for a in origin.arrivals)
    ev2, picks2 = read_quakeml(tmp_path / "cat" / "catalog.xml")
    assert list(ev2["event_id"]) == list(events["event_id"])
    np.testing.assert_allclose(ev2["latitude"], events["latitude"], atol=1e-6)
    assert (ev2["time"] - events["time"]).abs().max() < pd.Timedelta("1ms")
    linked = asg[asg["event_id"] != ""].sort_values("pick_id")
    assert sorted(picks2["pick_id"]) == list(linked["pick_id"])


def test_bad_input_is_counted_not_fatal(tmp_path):
    clean_network(tmp_path, hours=1.0)
    st = pd.read_csv(tmp_path / "stations.csv", dtype={"location": str}, keep_default_na=False)
    st.loc[0, "latitude"] = np.nan  # a station without coordinates
    pd.concat([st.iloc[:1], st.iloc[2:]]).to_csv(tmp_path / "partial.csv", index=False)  # S01 missing
    rep = run_association(tmp_path / "picks", tmp_path / "partial.csv", "pyocto", tmp_path / "cat",
                          velocity_model=tmp_path / "velocity_model.yaml", start="2020-01-01T00:10:00",
                          progress=False).to_dict()
    assert rep["skipped"]["station_without_coordinates"] == 1
    assert rep["skipped"]["picks_station_without_coordinates"] > 0
    assert rep["skipped"]["picks_station_not_in_inventory"] > 0
    assert rep["skipped"]["outside_time_span"] > 0
    (tmp_path / "empty" / "picks").mkdir(parents=True)
    rep = run_association(tmp_path / "empty", tmp_path / "stations.csv", "pyocto", tmp_path / "cat_empty",
                          progress=False)
    assert rep.notes["n_events"] == 0 and "empty" in rep.notes
    assert len(pd.read_parquet(tmp_path / "cat_empty" / "events.parquet")) == 0
    assert (tmp_path / "cat_empty" / "run_report.json").is_file()
    (tmp_path / "bad.yaml").write_text("kind: layered\ndepth_km: [0, 10]\nvp: [6.0]\nvs: [3.5, 3.6]\n")
    with pytest.raises(ConfigError, match="same, non-zero length"):
        run_association(tmp_path / "picks", tmp_path / "stations.csv", "pyocto", tmp_path / "c2",
                        velocity_model=tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text("kind: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        run_association(tmp_path / "picks", tmp_path / "stations.csv", "pyocto", tmp_path / "c3",
                        velocity_model=tmp_path / "bad2.yaml")


def _frame(times, lats, ids):
    return pd.DataFrame({"event_id": ids, "time": pd.to_datetime(times, utc=True), "latitude": lats,
                         "longitude": 8.0, "depth_km": 10.0})


def test_matching_is_one_to_one_with_inclusive_tolerances():
    t0 = pd.Timestamp("2020-01-01T00:00:00", tz="UTC")
    ref = _frame([t0, t0 + pd.Timedelta(seconds=100)], [46.5, 46.5], ["a", "b"])
    # two found events near "a": only the closer one is matched; "b" is 3.0 s away (edge: matched)
    found = _frame([t0 + pd.Timedelta(seconds=0.5), t0 + pd.Timedelta(seconds=1.0),
                    t0 + pd.Timedelta(seconds=103.0)], [46.5, 46.5, 46.5], ["x", "y", "z"])
    m = match_events(ref, found, 3.0, 15.0)
    assert sorted(zip(m.ref_index, m.found_index)) == [(0, 0), (1, 2)]
    assert m["ref_index"].is_unique and m["found_index"].is_unique
    assert len(match_events(ref, found, 2.999, 15.0)) == 1  # just outside the time tolerance
    km = 15.0 / 111.19492664455873  # exactly 15 km north
    far = _frame([t0], [46.5 + km], ["f"])
    assert len(match_events(ref.iloc[:1], far, 3.0, 15.0 + 1e-6)) == 1
    assert len(match_events(ref.iloc[:1], far, 3.0, 15.0 - 1e-3)) == 0
    rows = event_rows(ref, found, match_events(ref, found, 3.0, 15.0), None, None, 0.5)
    s = scores(rows)
    assert s["recall"] == 1.0 and s["precision"] == pytest.approx(2 / 3)


def test_bench_catalog_and_leaderboard_write_outputs(tmp_path):
    from seisforge.bench.catalog import catalog_leaderboard, evaluate_catalog

    clean_network(tmp_path, hours=1.0)
    run_association(tmp_path / "picks", tmp_path / "stations.csv", "pyocto", tmp_path / "cat",
                    velocity_model=tmp_path / "velocity_model.yaml", progress=False)
    res = evaluate_catalog(tmp_path / "cat", tmp_path / "catalog.csv", tmp_path / "b1", n_boot=20)
    evaluate_catalog(tmp_path / "cat", tmp_path / "catalog.xml" if (tmp_path / "catalog.xml").exists()
                     else tmp_path / "catalog.csv", tmp_path / "b2", time_tol=1.0, n_boot=20)
    assert res["metrics"]["recall"] > 0.9 and res["ci95"]["recall"][0] <= res["metrics"]["recall"]
    for f in ("catalog_metrics.json", "map.png", "errors.png", "recall_vs_magnitude.png"):
        assert (tmp_path / "b1" / f).is_file()
    paths = catalog_leaderboard([tmp_path / "b1", tmp_path / "b2"], tmp_path / "lb", n_boot=20)
    cmp = json.loads(paths[2].read_text())
    assert cmp["paired"]["b2"]["delta"]["precision"] == pytest.approx(0.0, abs=0.2)
