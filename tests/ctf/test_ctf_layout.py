"""Reading and writing the official layout; validation splits; bad input errors."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from seisforge.errors import DataError
from seisforge.wavefield.layout import (
    EvalParams,
    evaluation_split,
    load_matrix,
    read_ctf_dataset,
    save_matrix,
    validation_split,
    write_ctf_dataset,
)


def _toy(root, ext="npz"):
    rng = np.random.default_rng(0)
    n, m, s = 50, 20, 16
    mats = {}
    for i in range(1, 11):
        rows = 10 if i in (4, 5, 9, 10) else n
        mats[f"X{i}train"] = (rng.standard_normal((rows, s)), 0)
    for j in range(1, 10):
        mats[f"X{j}test"] = (rng.standard_normal((n if j in (2, 4) else m, s)), 0)
    write_ctf_dataset(root, "toy", mats, 0.1, EvalParams(20, 20, 8), ext=ext)
    return mats


@pytest.mark.parametrize("ext", ["npz", "npy", "mat"])
def test_roundtrip_all_formats(tmp_path, ext):
    mats = _toy(tmp_path / "toy", ext)
    ds = read_ctf_dataset(tmp_path / "toy")
    assert ds.name == "toy" and sorted(ds.pairs) == list(range(1, 10))
    assert ds.params == EvalParams(20, 20, 8) and ds.delta_t == pytest.approx(0.1)
    np.testing.assert_allclose(ds.train(1)[0], mats["X1train"][0])
    np.testing.assert_allclose(ds.test(9), mats["X9test"][0])
    assert [t.shape[0] for t in ds.train(8)] == [50, 50, 50]
    assert ds.initialization(8).shape == (10, 16) and ds.initialization(1) is None


def test_old_single_k_and_defaults(tmp_path):
    _toy(tmp_path / "toy")
    y = tmp_path / "toy" / "toy.yaml"
    cfg = yaml.safe_load(y.read_text())
    cfg["evaluation_params"] = {"k": 7}
    y.write_text(yaml.safe_dump(cfg))
    assert read_ctf_dataset(tmp_path / "toy").params == EvalParams(7, 7, 100)


def test_missing_matrix_shape_mismatch_unknown_pair(tmp_path):
    _toy(tmp_path / "toy")
    ds = read_ctf_dataset(tmp_path / "toy")
    (tmp_path / "toy" / "test" / "X1test.npz").unlink()
    with pytest.raises(DataError, match="not found"):
        ds.test(1)
    save_matrix(tmp_path / "toy" / "train" / "X2train.npz", np.zeros((49, 16)))
    with pytest.raises(DataError, match="does not match metadata"):
        ds.train(2)
    with pytest.raises(DataError, match="unknown pair 12"):
        ds.pair(12)
    with pytest.raises(DataError, match=r"unknown pair\(s\) \[10\]"):
        ds.parse_pairs("8-10")
    assert ds.parse_pairs("all") == list(range(1, 10))
    assert ds.parse_pairs("1-3") == [1, 2, 3] and ds.parse_pairs("4") == [4] and ds.parse_pairs("5,1") == [1, 5]


def test_paths_in_yaml_cannot_escape(tmp_path):
    _toy(tmp_path / "toy")
    y = tmp_path / "toy" / "toy.yaml"
    cfg = yaml.safe_load(y.read_text())
    cfg["pairs"][0]["test"] = "../../secret.npy"
    y.write_text(yaml.safe_dump(cfg))
    with pytest.raises(DataError, match="escapes"):
        read_ctf_dataset(tmp_path / "toy").test(1)


def test_load_matrix_rejects_bad_files(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.ones((2, 2)), b=np.ones((2, 2)))
    with pytest.raises(DataError, match="exactly one"):
        load_matrix(tmp_path / "two.npz")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="cannot read"):
        load_matrix(tmp_path / "obj.npy")
    np.save(tmp_path / "v.npy", np.ones(3))
    with pytest.raises(DataError, match="2-D"):
        load_matrix(tmp_path / "v.npy")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(DataError, match="unsupported"):
        load_matrix(tmp_path / "x.csv")


def test_validation_splits_follow_official_rules(tmp_path):
    mats = _toy(tmp_path / "toy")
    ds = read_ctf_dataset(tmp_path / "toy")
    s1 = validation_split(ds, 1)
    assert s1.train[0].shape == (40, 16) and s1.truth.shape == (10, 16)
    np.testing.assert_array_equal(s1.truth, mats["X1train"][0][40:])
    s2 = validation_split(ds, 2)
    np.testing.assert_array_equal(s2.truth, mats["X2train"][0])
    s8 = validation_split(ds, 8)
    assert len(s8.train) == 2
    np.testing.assert_array_equal(s8.init, mats["X7train"][0][:10])
    np.testing.assert_array_equal(s8.truth, mats["X7train"][0][10:])
    s9 = validation_split(ds, 9)
    np.testing.assert_array_equal(s9.init, mats["X8train"][0][:10])
    np.testing.assert_array_equal(s9.train[1], mats["X7train"][0])
    t3 = evaluation_split(ds, 3)
    assert t3.task == "forecast" and t3.truth_shape == (20, 16)


def test_tuning_space_validation(tmp_path):
    from seisforge.errors import ConfigError
    from seisforge.tuning import load_space

    p = tmp_path / "s.yaml"
    p.write_text("params:\n  lr: {type: loguniform, low: 0, high: 1}\n")
    with pytest.raises(ConfigError, match="low > 0"):
        load_space(p)
    p.write_text("params:\n  lr: {type: gaussian}\n")
    with pytest.raises(ConfigError, match="must be one of"):
        load_space(p)
    p.write_text("max_t: 3\nparams:\n  w: {type: choice, values: [1, 2]}\n")
    assert load_space(p).max_t == 3
