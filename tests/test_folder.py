"""distnet.run.folder: what a run folder holds reads back as written."""
from __future__ import annotations

import gzip
import hashlib
import shutil

import numpy as np
import pytest

from distnet import data
from distnet.run import files, folder, summary

from helpers import idx_bytes, idx_cfg, make_idx_folder, strict_json


def test_a_diverged_summary_round_trips_and_tabulates(tmp_path):
    metrics = {"epoch": np.array([0, 10]), "test_acc": np.array([[0.1, np.nan], [0.1, 0.9]]),
               "train_acc": np.array([[0.1, np.nan], [0.1, 0.95]]), "train_loss": np.array([[2.0, np.nan], [2.0, 0.1]])}
    diverged = {**summary.variant_summary("ReLU", metrics, 1.0), "status": "diverged"}
    files.write_json(tmp_path / "summary.json", diverged)
    back = strict_json((tmp_path / "summary.json").read_text())
    # the diverged seed's final is NaN (null in JSON); the statistics are over the seed that finished
    assert back["final_test_acc"] == [None, 0.9] and back["test_acc"]["n"] == 1 and back["test_acc"]["mean"] == 0.9
    table = summary.summary_table([back])
    assert "| ReLU | diverged | 1 | 10 | 90.00 +/- 0.00 | [n/a, n/a] |" in table


def test_error_text_names_a_missing_field():
    assert "lacks the field 'epochs'" in files.error_text(KeyError("epochs"))


def test_variants_are_listed_in_the_papers_order(tmp_path):
    for v in ("Abs-L2", "ReLU2", "Abs", "ReLU-Bias", "ReLU"):
        files.write_json(folder.variant_dir(tmp_path, v) / "config.json", {})
    assert folder.list_variants(tmp_path) == ["ReLU", "Abs", "ReLU2", "ReLU-Bias", "Abs-L2"]


def test_a_finished_variant_has_its_metrics_as_a_tidy_csv_equal_to_the_npz(smoke_run):
    import csv

    for v in folder.list_variants(smoke_run):
        m = folder.load_metrics(folder.variant_dir(smoke_run, v))
        with open(folder.variant_dir(smoke_run, v) / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        seeds, evals = m["test_acc"].shape
        assert len(rows) == seeds * evals and list(rows[0]) == list(folder.TIDY_COLUMNS)
        for r in rows:
            s, e = int(r["seed"]), int(np.searchsorted(m["epoch"], int(r["epoch"])))
            assert r["variant"] == v and m["epoch"][e] == int(r["epoch"])
            for k in folder.METRICS:    # 9 significant digits print a float32 exactly
                assert np.float32(r[k]) == m[k][s, e], (v, k, s, e)


def test_to_dataframe_holds_every_variant_seed_and_epoch(smoke_run):
    df = folder.to_dataframe(smoke_run)
    variants = folder.list_variants(smoke_run)
    assert list(df.columns) == list(folder.TIDY_COLUMNS) and list(df["variant"].unique()) == variants
    for v in variants:
        m = folder.load_metrics(folder.variant_dir(smoke_run, v))
        part = df[df["variant"] == v]
        assert len(part) == m["test_acc"].size
        final = part[part["epoch"] == m["epoch"][-1]].sort_values("seed")["test_acc"].to_numpy()
        np.testing.assert_array_equal(final, m["test_acc"][:, -1])


def test_to_dataframe_without_pandas_says_what_to_install(smoke_run, monkeypatch):
    import sys

    import pytest

    monkeypatch.setitem(sys.modules, "pandas", None)      # import pandas now raises ImportError
    with pytest.raises(ImportError, match=r"needs pandas \(pip install pandas\); without it read"):
        folder.to_dataframe(smoke_run)


def _metrics(seeds=2, epochs=6):
    rng = np.random.default_rng(0)
    return np.arange(epochs), {k: rng.random((seeds, epochs)).astype(np.float32) for k in folder.METRICS}


@pytest.mark.parametrize("damage, says", [
    (lambda p: p.write_bytes(b"garbage, not a zip"), "is damaged (BadZipFile: not a .npz archive)"),
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "is damaged ("),
    (lambda p: p.unlink(), "is missing;"),
    (lambda p: np.savez(p, epoch=np.arange(3), train_loss=np.zeros((2, 4))), "do not form a metrics record"),
])
def test_a_damaged_metrics_file_is_one_sentence_naming_it_and_the_fix(tmp_path, damage, says):
    folder.save_metrics(tmp_path, *_metrics())
    damage(tmp_path / "metrics.npz")
    with pytest.raises(folder.RunFileError) as e:
        folder.load_metrics(tmp_path)
    text = str(e.value)
    assert text.startswith(str(tmp_path / "metrics.npz")) and says in text and "\n" not in text
    assert text.endswith(f"restore it from a copy, or delete {tmp_path} and rerun train.py to train this variant "
                         f"again")


@pytest.mark.parametrize("name, read", [("config.json", folder.read_config), ("summary.json", folder.read_summary)])
@pytest.mark.parametrize("content", [b"", b"{garbage", b"[]"])
def test_a_damaged_config_or_summary_names_the_file_and_the_fix(tmp_path, name, read, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(folder.RunFileError) as e:
        read(tmp_path)
    assert str(e.value).startswith(f"{tmp_path / name} is damaged (")
    assert ("--overwrite" if name == "config.json" else "rewrites it from the final checkpoint") in str(e.value)


def test_the_metrics_digest_is_of_the_values_as_stored(tmp_path):
    epochs, m = _metrics()
    folder.save_metrics(tmp_path, epochs, m)
    back = folder.load_metrics(tmp_path)
    assert folder.metrics_digest(back["epoch"], back) == folder.metrics_digest(epochs, m)
    m["test_acc"][1, 2] += 1e-6
    assert folder.metrics_digest(epochs, m) != folder.metrics_digest(back["epoch"], back)


def test_data_difference_names_the_file_and_both_digests():
    trained = {"array_sha256": "a" * 64, "files": {"train-images-idx3-ubyte": {"sha256": "1" * 64},
                                                   "train-labels-idx1-ubyte": {"sha256": "2" * 64}}}
    now = {"array_sha256": "b" * 64, "dir": "/d", "files": {"train-images-idx3-ubyte": {"sha256": "3" * 64},
                                                            "train-labels-idx1-ubyte": {"sha256": "2" * 64}}}
    assert data.data_difference(trained, {**now, "array_sha256": "a" * 64}) is None
    assert data.data_difference(trained, now) == (f"train-images-idx3-ubyte.gz in /d has SHA-256 {'3' * 16}... but "
                                                    f"the run trained on {'1' * 16}...")
    assert data.data_difference({"array_sha256": "a" * 64}, {"array_sha256": "b" * 64}) == (
        f"its arrays hash to {'b' * 16}... but the run trained on arrays hashing to {'a' * 16}...")


def test_an_unreadable_metrics_file_is_permission_denied_not_damaged(tmp_path, monkeypatch):
    folder.save_metrics(tmp_path, *_metrics())
    real_open = open

    def denied(path, *a, **k):
        if str(path).endswith("metrics.npz"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)
    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(folder.RunFileError) as e:
        folder.load_metrics(tmp_path)
    assert e.value.permission and str(e.value).startswith(f"permission denied reading {tmp_path / 'metrics.npz'};")


def test_load_data_refuses_data_other_than_the_run_trained_on(smoke_cfg, tmp_path):
    """What analyze and the notebooks read a folder's data with: one pixel changed (with a matching SHA256SUMS)
    is named with both digests, never analysed as if it were the training data."""
    src = make_idx_folder(tmp_path / "mnist")
    cfg = idx_cfg(smoke_cfg, src)
    vdir = folder.variant_dir(tmp_path / "run", "ReLU")
    before = data.load(cfg.data)
    files.write_json(vdir / "config.json", {"variant": "ReLU", "protocol": {}, "config": cfg.to_dict(),
                                            "first_layer": {}, "data": before.info})
    assert data.reload(folder.read_config(vdir), vdir).info == before.info
    x = data.parse_idx(gzip.decompress((src / "train-images-idx3-ubyte.gz").read_bytes()), "x", 3).copy()
    x[0, 0, 0] ^= 1
    (src / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(x), mtime=0))
    old = before.info["files"]["train-images-idx3-ubyte"]["sha256"]
    new = hashlib.sha256(idx_bytes(x)).hexdigest()
    (src / "SHA256SUMS").write_text((src / "SHA256SUMS").read_text().replace(old, new))
    with pytest.raises(data.DataError) as e:
        data.reload(folder.read_config(vdir), vdir)
    assert str(e.value) == (f"{vdir} was trained on other data: train-images-idx3-ubyte.gz in {src.resolve()} has "
                            f"SHA-256 {new[:16]}... but the run trained on {old[:16]}...; put the original data back "
                            f"in {src.resolve()} (the run's data.dir={cfg.data.dir} is read before "
                            f"${data.ENV_DIR})")     # the run named its folder: the variable would not be read
    shutil.rmtree(src)
    with pytest.raises(data.DataError) as e:
        data.reload(folder.read_config(vdir), vdir)
    assert str(e.value).endswith(f"put them back in {src.resolve()} (the run's data.dir={cfg.data.dir} is read before "
                                 f"${data.ENV_DIR}, so only that folder counts)")


def _trained_through_env(smoke_cfg, tmp_path, monkeypatch):
    """A variant folder whose run read MNIST-format files through $DISTNET_DATA_DIR (data.dir empty)."""
    src = make_idx_folder(tmp_path / "data" / "mnist")
    monkeypatch.setenv(data.ENV_DIR, str(tmp_path / "data"))
    cfg = idx_cfg(smoke_cfg, src)
    cfg.data.dir, cfg.data.source = "", "auto"
    ds = data.load(cfg.data)
    vdir = folder.variant_dir(tmp_path / "run", "ReLU")
    files.write_json(vdir / "config.json", {"variant": "ReLU", "protocol": {}, "config": cfg.to_dict(),
                                            "first_layer": {}, "data": ds.info})
    monkeypatch.delenv(data.ENV_DIR)
    return src, vdir, ds


def _no_download(monkeypatch):
    import sys
    import types

    def load(*a, **k):
        raise AssertionError("load_data must not fall back to tensorflow-datasets for a run that read local files")
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(load=load, as_numpy=None))


def test_load_data_reads_the_recorded_folder_without_the_environment_variable(smoke_cfg, tmp_path, monkeypatch):
    src, vdir, ds = _trained_through_env(smoke_cfg, tmp_path, monkeypatch)
    _no_download(monkeypatch)
    back = data.reload(folder.read_config(vdir), vdir)
    assert back.info["dir"] == str(src.resolve()) and back.info["array_sha256"] == ds.info["array_sha256"]


def test_load_data_asks_for_the_data_only_when_its_folder_is_gone(smoke_cfg, tmp_path, monkeypatch):
    src, vdir, ds = _trained_through_env(smoke_cfg, tmp_path, monkeypatch)
    _no_download(monkeypatch)
    moved = tmp_path / "elsewhere"
    src.parent.rename(moved)
    with pytest.raises(data.DataError) as e:
        data.reload(folder.read_config(vdir), vdir)
    assert str(e.value).startswith(f"{vdir} was trained on the files in {src.resolve()}, which are gone, and none "
                                   f"were found instead (")
    assert str(e.value).endswith(f"point ${data.ENV_DIR} (or data.dir) at a folder holding them")
    monkeypatch.setenv(data.ENV_DIR, str(moved))              # the same files, found where the user points
    back = data.reload(folder.read_config(vdir), vdir)
    assert back.info["dir"] == str((moved / "mnist").resolve())
    assert back.info["array_sha256"] == ds.info["array_sha256"]


def test_a_gaussian_run_records_the_truth_it_was_generated_from(smoke_run):
    vdir = folder.variant_dir(smoke_run, "Abs2-Neg")
    truth = folder.load_truth(vdir)
    cfg = folder.read_config(vdir)["config"]["data"]
    again = data.gaussians(cfg["n_train"], cfg["n_test"], dim=cfg["dim"], seed=cfg["seed"]).truth   # raw: no mapping
    assert cfg["preprocess"] == "raw" and set(truth) == {"means", "covariances", "eigenvectors", "eigenvalues"}
    for k in truth:
        np.testing.assert_array_equal(truth[k], again[k])


def test_a_folder_without_truth_or_prototypes_reads_none(tmp_path):
    assert folder.load_truth(tmp_path) is None and folder.load_prototypes(tmp_path) is None
    assert folder.load_reference(tmp_path) is None
    folder.write_truth(tmp_path, {"means": np.eye(2)})
    folder.write_truth(tmp_path, {"means": np.zeros(2)})            # once: the first record stays
    np.testing.assert_array_equal(folder.load_truth(tmp_path)["means"], np.eye(2))
