"""distnet.npz, a user's own dataset in one .npz file (data.name=npz, data.path=FILE): every bad file refused in one
sentence naming the file and the fix, before anything is written; a good one recorded by its SHA-256, read back by
data.reload and trained end to end by train.py."""
from __future__ import annotations

import hashlib
import json

import ml_collections
import numpy as np
import pytest

from distnet import config, data
from distnet.run import study

from helpers import ROOT, train_process as train


def arrays(n_train=60, n_test=30, dim=5, classes=3, seed=0) -> dict:
    """Three separated Gaussian classes, labels cycling 0..C-1 (so every class is in both splits)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 4, (classes, dim))
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = np.arange(n) % classes
        out[f"x_{split}"], out[f"y_{split}"] = means[y] + rng.normal(size=(n, dim)), y
    return out


def write(path, **changes):
    """A good file at `path` with `changes` applied (None drops an array); returns the path."""
    a = {k: v for k, v in {**arrays(), **changes}.items() if v is not None}
    np.savez(path, **a)
    return path


def dcfg(path, **kw):
    c = ml_collections.ConfigDict({"name": "npz", "source": "auto", "dir": "", "path": str(path), "preprocess": "raw",
                                   "n_train": 0, "n_test": 0, "dim": 784, "seed": 0})
    c.update(kw)
    return c


A = arrays()
BAD = {   # what is wrong: (the changes to a good file, what the sentence says)
    "no y_test": (dict(y_test=None), "has no y_test (it holds x_train, y_train, x_test); write all four with np.savez"),
    "object labels": (dict(y_train=np.array(list(A["y_train"]), dtype=object)),
                      "y_train is an array of Python objects, which is never unpickled"),
    "x of one dimension": (dict(x_train=np.zeros(60)), "x_train has shape (60,); give one example per row"),
    "empty x": (dict(x_test=np.zeros((0, 5)), y_test=np.zeros(0, int)), "x_test has shape (0, 5)"),
    "no features": (dict(x_train=np.zeros((60, 0))), "x_train has shape (60, 0)"),
    "empty y": (dict(y_test=np.zeros(0, int)), "y_test is empty"),
    "complex x": (dict(x_train=A["x_train"] + 1j), "x_train holds complex numbers, not real numbers"),
    "string x": (dict(x_test=A["x_test"].astype(str)), "x_test holds strings, not real numbers"),
    "NaN in x": (dict(x_train=np.where(np.arange(60)[:, None] == 3, np.nan, A["x_train"])),
                 "x_train holds 5 NaN or Inf value(s) as float32, the first in row 3; fill or drop them"),
    "Inf in x": (dict(x_test=np.where(np.arange(30)[:, None] == 7, -np.inf, A["x_test"])), "the first in row 7"),
    "beyond float32": (dict(x_train=A["x_train"] * 1e300), "overflow float32"),
    "fractional labels": (dict(y_train=A["y_train"] + 0.5), "y_train holds non-integer labels such as 0.5"),
    "NaN label": (dict(y_test=np.where(np.arange(30) == 2, np.nan, A["y_test"])), "non-integer labels such as nan"),
    "complex labels": (dict(y_train=A["y_train"] + 0j), "y_train holds complex numbers, not class indices"),
    "boolean labels": (dict(y_test=A["y_test"] > 0), "y_test holds booleans, not class indices"),
    "string labels": (dict(y_train=A["y_train"].astype(str)), "y_train holds strings, not class indices; save "
                                                              "integers 0..C-1 (np.unique(y, return_inverse=True)[1]"),
    "one-hot labels": (dict(y_train=np.eye(3)[A["y_train"]]), "y_train has shape (60, 3), not one label per example "
                                                              "(N,); save y_train.argmax(axis=1) of one-hot rows"),
    "column labels": (dict(y_test=A["y_test"][:, None]), "save y_test.reshape(-1)"),
    "negative label": (dict(y_train=A["y_train"] - 1), "y_train holds the label -1, not a class index"),
    "huge label": (dict(y_test=np.where(np.arange(30) == 0, 10 ** 12, A["y_test"])), "the label 1000000000000"),
    "counts differ": (dict(y_train=A["y_train"][:59]), "x_train has 60 examples but y_train has 59 labels"),
    "features differ": (dict(x_test=A["x_test"][:, :4]), "x_train has 5 features per example but x_test has 4"),
    "a class missing": (dict(y_train=2 * (A["y_train"] % 2), y_test=2 * (A["y_test"] % 2)),
                        "y_train and y_test have no label 1 although their largest is 2"),
    "labels far apart": (dict(y_test=np.where(np.arange(30) == 0, 50, A["y_test"])), "no label 3, 4, 5, 6, 7, ..."),
    "one class": (dict(y_train=0 * A["y_train"], y_test=0 * A["y_test"]), "every label is 0, one class only"),
}


@pytest.mark.parametrize("what", BAD)
def test_each_bad_file_is_refused_in_one_sentence_naming_the_file_and_the_fix(tmp_path, what):
    changes, says = BAD[what]
    path = write(tmp_path / "mine.npz", **changes)
    with pytest.raises(data.DataError) as e:
        data.load(dcfg(path))
    message = str(e.value)
    assert message.startswith(f"{path}: ") and says in message and "\n" not in message and ";" in message


@pytest.mark.parametrize("what, make, says", [
    ("missing", lambda p: None, "file not found; set data.path to an .npz file written with np.savez(FILE"),
    ("a folder", lambda p: p.mkdir(), "is a folder; set data.path"),
    ("not a zip", lambda p: p.write_bytes(b"x_train,y_train\n1,2\n"), "not a NumPy .npz archive"),
    ("one bare array", lambda p: p.write_bytes(_npy(np.zeros(3))), "holds one bare array, not an .npz archive"),
    ("truncated", lambda p: p.write_bytes(write(p).read_bytes()[:-400]), "not a NumPy .npz archive (BadZipFile)"),
])
def test_a_file_that_is_no_npz_archive_is_refused_in_one_sentence(tmp_path, what, make, says):
    path = tmp_path / "mine.npz"
    make(path)
    with pytest.raises(data.DataError) as e:
        data.load(dcfg(path))
    assert str(e.value).startswith(f"{path}: ") and says in str(e.value) and "\n" not in str(e.value)


def _npy(a) -> bytes:
    import io
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@pytest.mark.parametrize("name, path, says", [
    ("npz", "", "config.data.name=npz needs config.data.path=FILE.npz"),
    ("mnist", "mine.npz", "config.data.path='mine.npz' is read only with config.data.name=npz"),
])
def test_data_path_goes_with_data_name_npz_and_only_with_it(name, path, says):
    with pytest.raises(config.ConfigError, match=says.replace(".", r"\.")):
        data.check_config(dcfg(path, name=name))


def test_a_good_file_loads_flattened_and_is_recorded_by_its_sha256(tmp_path):
    a = arrays(n_train=40, n_test=20, dim=16)
    images = {**a, "x_train": a["x_train"].reshape(40, 4, 4).astype(np.uint8), "y_test": a["y_test"].astype(float)}
    path = write(tmp_path / "mine.npz", **images)
    ds = data.load(dcfg(path, n_train=30))
    assert ds.x_train.shape == (30, 16) and ds.x_train.dtype == np.float32 and ds.y_test.dtype == np.int32
    np.testing.assert_array_equal(ds.x_train, images["x_train"].reshape(40, 16)[:30])
    np.testing.assert_array_equal(ds.y_test, a["y_test"])
    assert ds.classes == 3 and ds.info["source"] == "npz" and ds.info["path"] == str(path.resolve())
    assert ds.info["files"] == {"mine.npz": {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}
    assert len(ds.info["array_sha256"]) == 64 and ds.info["n_train"] == 30
    unit = data.load(dcfg(path, preprocess="unit"))
    assert np.abs(unit.x_train).max() == pytest.approx(1.0)


def test_reload_reads_the_recorded_file_from_any_folder_and_refuses_another(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "mine.npz")
    cfg = dcfg("mine.npz")                          # relative to the folder the run started in
    record = {"config": {"data": cfg.to_dict()}, "data": json.loads(json.dumps(data.load(cfg).info))}
    monkeypatch.chdir(tmp_path / "a")               # analysis from elsewhere
    np.testing.assert_array_equal(data.reload(record, "run/ReLU").x_train, arrays()["x_train"].astype(np.float32))
    write(tmp_path / "mine.npz", x_train=arrays()["x_train"] + 1)
    with pytest.raises(data.DataError) as e:
        data.reload(record, "run/ReLU")
    old, new = record["data"]["files"]["mine.npz"]["sha256"], hashlib.sha256((tmp_path / "mine.npz").read_bytes())
    assert str(e.value) == (f"run/ReLU was trained on other data: {tmp_path / 'mine.npz'} has SHA-256 "
                            f"{new.hexdigest()[:16]}... but the run trained on {old[:16]}...; put the original file "
                            f"back at {tmp_path / 'mine.npz'}")
    (tmp_path / "mine.npz").unlink()
    with pytest.raises(data.DataError, match=r"run/ReLU was trained on .*mine\.npz, which cannot be read now .*file "
                                             r"not found.*; put that file back there$"):
        data.reload(record, "run/ReLU")


def test_the_same_arrays_saved_again_are_the_same_data(tmp_path):
    first = data.load(dcfg(write(tmp_path / "a.npz"))).info
    again = data.load(dcfg(write(tmp_path / "b.npz"))).info
    assert data.data_difference(first, again) is None


def test_a_bad_file_stops_the_study_before_anything_is_written(smoke_cfg, tmp_path):
    smoke_cfg.data.name, smoke_cfg.data.path = "npz", str(write(tmp_path / "bad.npz", y_train=None))
    with pytest.raises(data.DataError, match="has no y_train"):
        study.run_all(smoke_cfg, tmp_path / "run", log=lambda *a: None)
    assert not (tmp_path / "run").exists()


def test_the_protocol_records_data_path_only_when_set(smoke_cfg):
    """So run folders written before data.path still take new variants (preflight.check_one_study)."""
    assert "path" not in config.protocol(smoke_cfg)["data"]
    smoke_cfg.data.name, smoke_cfg.data.path = "npz", "mine.npz"
    assert config.protocol(smoke_cfg)["data"]["path"] == "mine.npz"
    assert "path" not in config.identity(smoke_cfg.to_dict())["data"]     # the data is compared by its SHA-256


COMMON = ["--config", ROOT / "configs/smoke.py", "--config.variants=ReLU", "--config.data.name=npz",
          "--config.data.n_train=0", "--config.data.n_test=0", "--config.hidden=8", "--config.epochs=10"]


def test_train_py_refuses_a_bad_file_in_one_line_before_writing(tmp_path):
    bad = write(tmp_path / "bad.npz", y_test=A["y_test"] + 0.5)
    r = train(*COMMON, f"--config.data.path={bad}", "--workdir", tmp_path / "refused")
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(errors) == 1, r.stderr
    assert errors[0].startswith(f"error: {bad}: y_test holds non-integer labels such as 0.5; save integer")
    assert not (tmp_path / "refused").exists()


def test_train_py_trains_a_good_file_and_records_its_sha256(tmp_path):
    good = write(tmp_path / "good.npz")
    r = train(*COMMON, f"--config.data.path={good}", "--workdir", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    record = json.loads((tmp_path / "run" / "ReLU" / "config.json").read_text())
    assert record["data"]["source"] == "npz" and record["data"]["path"] == str(good.resolve())
    assert record["data"]["files"]["good.npz"]["sha256"] == hashlib.sha256(good.read_bytes()).hexdigest()
    assert record["data"]["classes"] == 3 and record["protocol"]["data"]["path"] == str(good)
    summary = json.loads((tmp_path / "run" / "ReLU" / "summary.json").read_text())
    assert summary["test_acc"]["mean"] > 0.6          # three classes 4 std apart: chance is 1/3
