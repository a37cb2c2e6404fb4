
import time

import ml_collections
import numpy as np
import pytest

from distnet import data, sources

from helpers import DATA_CASES, FIXES, STEMS, bad_folder, idx_cfg, make_idx_folder, write_idx_folder

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_idx_roundtrip_flattens_and_checks_sums(tmp_path):
    arrays = write_idx_folder(tmp_path)
    ds = data.load_idx(tmp_path)
    assert ds.x_train.shape == (12, 16) and ds.x_train.dtype == np.float32 and ds.y_test.dtype == np.int32
    np.testing.assert_array_equal(ds.x_test, arrays["x_test"].reshape(6, 16))
    assert all(f["checked"] for f in ds.info["files"].values())


def test_gaussians_are_deterministic_with_known_means():
    a, b = data.gaussians(300, 100, dim=5, classes=3, seed=4), data.gaussians(300, 100, dim=5, classes=3, seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == (300, 5) and set(np.unique(a.y_test)) == {0, 1, 2}
    for c in range(3):   # sample means near the known means (cov ~ I scale, 100 points per class)
        np.testing.assert_allclose(a.x_train[a.y_train == c].mean(0), a.truth["means"][c], atol=0.5)


def _dcfg(**kw):
    c = ml_collections.ConfigDict({"name": "gaussians", "source": "auto", "dir": "", "preprocess": "raw",
                                   "n_train": 50, "n_test": 20, "dim": 8, "seed": 0})
    c.update(kw)
    return c


def test_preprocess_unit_scales_to_one_and_standardize_to_zero_mean_unit_std():
    raw = data.load(_dcfg())
    unit = data.load(_dcfg(preprocess="unit"))
    std = data.load(_dcfg(preprocess="standardize"))
    assert np.abs(unit.x_train).max() == pytest.approx(1.0)
    assert std.x_train.mean() == pytest.approx(0, abs=1e-5) and std.x_train.std() == pytest.approx(1, rel=1e-4)
    assert raw.info["array_sha256"] != unit.info["array_sha256"] and len(raw.x_train) == 50


def test_idx_source_without_folder_says_how_to_fix(monkeypatch):
    monkeypatch.delenv(data.ENV_DIR, raising=False)
    with pytest.raises(data.DataError, match="data.dir=FOLDER"):
        data.load(_dcfg(name="mnist", source="idx"))


def test_the_real_mnist_files_have_their_known_shapes_class_counts_and_digests(mnist_dir):
    ds = data.load_idx(mnist_dir)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.x_train.min() == 0 and ds.x_train.max() == 255
    np.testing.assert_array_equal(np.bincount(ds.y_train), MNIST_TRAIN_COUNTS)
    np.testing.assert_array_equal(np.bincount(ds.y_test), MNIST_TEST_COUNTS)
    files = ds.info["files"]
    assert all(f["checked"] for f in files.values())
    assert files["train-images-idx3-ubyte"]["sha256"].startswith("ba891046e6505d7a")


def test_the_env_dir_holds_one_folder_per_dataset_and_n_train_takes_a_prefix(mnist_dir, monkeypatch):
    monkeypatch.setenv(data.ENV_DIR, str(mnist_dir.parent))
    ds = data.load(_dcfg(name="mnist", n_train=1000, n_test=0))
    assert ds.x_train.shape == (1000, 784) and ds.x_test.shape == (10000, 784) and ds.info["source"] == "idx"


def test_the_tfds_source_loads_through_tfds_load(monkeypatch):
    """The tfds path without the network: a stand-in module records the call and returns tiny arrays."""
    import sys
    import types

    calls = []

    def fake_load(name, split, batch_size, as_supervised):
        calls.append((name, split, batch_size, as_supervised))
        n = 6 if split == "train" else 4
        return np.full((n, 28, 28, 1), 7, np.uint8), np.arange(n) % 10

    fake = types.SimpleNamespace(load=fake_load, as_numpy=lambda t: t, __version__="fake",
                                 builder=lambda n: types.SimpleNamespace(is_prepared=lambda: True))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.delenv(data.ENV_DIR, raising=False)
    ds = data.load(_dcfg(name="fashion_mnist", source="auto", n_train=0, n_test=0))
    assert calls == [("fashion_mnist", "train", -1, True), ("fashion_mnist", "test", -1, True)]
    assert ds.x_train.shape == (6, 784) and ds.x_train.max() == 7 and ds.info["source"] == "tfds"


def test_a_failed_tfds_download_is_one_sentence_pointing_at_local_files(monkeypatch):
    """tfds retries and then raises from deep in its download code; the user gets the cause and the way out."""
    import sys
    import types

    def failing_load(name, split, batch_size, as_supervised):
        raise ConnectionError("Failed to establish a new connection: [Errno -3] Temporary failure in name "
                              "resolution\n(200 more lines)")

    fake = types.SimpleNamespace(load=failing_load, as_numpy=lambda t: t, __version__="fake",
                                 builder=lambda n: types.SimpleNamespace(is_prepared=lambda: True))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.delenv(data.ENV_DIR, raising=False)
    with pytest.raises(data.DataError) as e:
        data.load(_dcfg(name="mnist", source="auto", n_train=0, n_test=0))
    msg = str(e.value)
    assert "\n" not in msg and "could not download or read mnist (ConnectionError: Failed to establish" in msg
    assert msg.endswith(f"resolution); without internet, put the four gzip IDX files in FOLDER/mnist and set "
                        f"${data.ENV_DIR}=FOLDER")


def test_a_valid_idx_folder_loads_through_the_config_with_its_sums_checked(tmp_path, smoke_cfg):
    ds = data.load(idx_cfg(smoke_cfg, make_idx_folder(tmp_path / "mnist")).data)
    assert ds.x_train.shape == (30, 16) and all(f["checked"] for f in ds.info["files"].values())


@pytest.mark.parametrize("case", DATA_CASES)
def test_every_damaged_data_folder_gets_one_sentence_naming_the_file_and_the_fix(case, tmp_path, smoke_cfg):
    folder = bad_folder(tmp_path, case)
    _, text, key = DATA_CASES[case]
    with pytest.raises(data.DataError) as e:
        data.load(idx_cfg(smoke_cfg, folder).data)
    msg = str(e.value)
    assert text in msg and "\n" not in msg and any(fix in msg for fix in FIXES), msg
    assert (STEMS[key] if key else str(folder)) in msg


def test_asking_for_more_examples_than_the_dataset_has_is_refused(tmp_path, smoke_cfg):
    cfg = idx_cfg(smoke_cfg, make_idx_folder(tmp_path / "mnist"))
    cfg.data.n_train = 31
    with pytest.raises(data.DataError, match=r"n_train=31 is larger than the 30 train examples"):
        data.load(cfg.data)


def _deny(monkeypatch, module_attr, target_name):
    """Make `module_attr` (e.g. gzip.open) raise PermissionError for paths ending in `target_name` (tests run as
    root, where chmod would not stop a read)."""
    obj, attr = module_attr
    real = getattr(obj, attr)

    def denied(path, *a, **k):
        if str(path).endswith(target_name):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *a, **k)
    monkeypatch.setattr(obj, attr, denied)


@pytest.mark.parametrize("where, target", [((sources.gzip, "open"), "train-images-idx3-ubyte.gz"),
                                           ((sources.Path, "read_text"), "SHA256SUMS"),
                                           ((sources.os, "listdir"), "mnist")])
def test_an_unreadable_data_file_or_folder_is_permission_denied_not_corrupt(tmp_path, monkeypatch, where, target):
    folder = make_idx_folder(tmp_path / "mnist")
    _deny(monkeypatch, where, target)
    with pytest.raises(data.DataError) as e:
        data.load_idx(folder)
    text = str(e.value)
    assert text.startswith(f"{folder / target if target != 'mnist' else folder}: permission denied; give this user "
                           f"read access") and "corrupt" not in text and "download" not in text


def test_gaussian_truth_whitens_its_own_samples():
    # z = L^(-1/2) V^T (x - mu) must be N(0, I) for every class if the recorded truth generated the samples.
    n, dim, classes = 30000, 5, 3
    ds = data.gaussians(n, 30, dim=dim, classes=classes, seed=7, separation=2.0, spread=50.0)
    t = ds.truth
    for c in range(classes):
        v, lam = t["eigenvectors"][c], t["eigenvalues"][c]
        np.testing.assert_allclose(v.T @ v, np.eye(dim), atol=1e-12)                   # a rotation
        np.testing.assert_allclose(t["covariances"][c] @ v, v * lam, atol=1e-12)        # its eigenpairs
        z = (ds.x_train[ds.y_train == c] - t["means"][c]) @ v / np.sqrt(lam)
        m = len(z)
        # each mean coordinate ~ N(0, 1/m): 5 std bounds all 5 coordinates with probability > 1 - 3e-6
        np.testing.assert_allclose(z.mean(0), 0, atol=5 / np.sqrt(m))
        # sample covariance entries have std <= sqrt(2/m) (diagonal) and sqrt(1/m) (off-diagonal); 6 std
        np.testing.assert_allclose(np.cov(z.T), np.eye(dim), atol=6 * np.sqrt(2 / m))
    assert t["eigenvalues"][0, 0] / t["eigenvalues"][0, -1] == pytest.approx(50.0)   # the chosen spread
    assert np.all(np.diff(t["eigenvalues"], axis=1) < 0)                               # descending


def test_gaussian_rotations_differ_per_class_and_seed():
    a, b = data.gaussians(20, 10, dim=4, classes=2, seed=0), data.gaussians(20, 10, dim=4, classes=2, seed=1)
    va, vb = a.truth["eigenvectors"], b.truth["eigenvectors"]
    # two independent random rotations agree to 1e-6 with probability zero
    assert np.abs(va[0] - va[1]).max() > 1e-6 and np.abs(va[0] - vb[0]).max() > 1e-6


def test_gaussians_in_784_dims_stay_small():
    # The old generator built a per-sample (N, D, D) factor: 10,000 x 784 x 784 float64 = 49 GB. One factor per
    # class needs the samples (10,000 x 784 float32, 31 MB; float64 draws of one class, 6 MB) and three
    # (10, 784, 784) float64 tables (factors, covariances, eigenvectors: 49 MB each), about 0.2 GB in all.
    import tracemalloc

    tracemalloc.start()
    ds = data.gaussians(10000, 100, dim=784, classes=10, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ds.x_train.shape == (10000, 784) and ds.truth["covariances"].shape == (10, 784, 784)
    assert peak < 0.5 * 2 ** 30   # 2.5x the arrays it must hold; 100x below the per-sample tensor


def _whitened(ds, c):
    """Class c's training samples whitened by the dataset's own truth: N(0, I) when the truth describes them."""
    t = ds.truth
    return (ds.x_train[ds.y_train == c] - t["means"][c]) @ t["eigenvectors"][c] / np.sqrt(t["eigenvalues"][c])


@pytest.mark.parametrize("how", ["unit", "standardize"])
def test_preprocess_maps_the_truth_with_the_data(how):
    pre = data.load(_dcfg(n_train=4000, dim=3, preprocess=how))
    assert np.abs(pre.x_train).max() < 10   # really rescaled (raw coordinates reach ~10 at separation 3)
    for c in range(10):
        z = _whitened(pre, c)
        # 400 samples per class: each whitened mean coordinate ~ N(0, 1/400); 5 std; variances within 6 std
        np.testing.assert_allclose(z.mean(0), 0, atol=5 / np.sqrt(len(z)))
        np.testing.assert_allclose(z.var(0), 1, atol=6 * np.sqrt(2 / len(z)))


def test_generator_fields_reach_the_generator():
    ds = data.load(_dcfg(classes=4, separation=0.5, spread=4.0))
    assert ds.classes == 4 and ds.info["spread"] == 4.0 and ds.info["separation"] == 0.5
    assert ds.truth["eigenvalues"][0, 0] / ds.truth["eigenvalues"][0, -1] == pytest.approx(4.0)


def test_data_dir_may_name_the_folder_holding_mnist_as_the_environment_variable_does(tmp_path):
    write_idx_folder(tmp_path / "mnist")
    ds = data.load(_dcfg(name="mnist", source="idx", dir=str(tmp_path), n_train=0, n_test=0))
    assert ds.info["dir"] == str((tmp_path / "mnist").resolve()) and len(ds.x_train) == 12


def test_the_environment_variable_naming_the_mnist_folder_itself_says_which_folder_it_wants(tmp_path, monkeypatch):
    write_idx_folder(tmp_path / "mnist")
    monkeypatch.setenv(data.ENV_DIR, str(tmp_path / "mnist"))
    with pytest.raises(data.DataError) as e:
        data.load(_dcfg(name="mnist", source="auto", dir="", n_train=0, n_test=0))
    assert str(e.value) == (f"${data.ENV_DIR}={tmp_path / 'mnist'} holds the IDX files themselves, but it names the "
                            f"folder above them (holding mnist/): did you mean {data.ENV_DIR}={tmp_path}, or "
                            f"data.dir={tmp_path / 'mnist'}?")


def _fake_tfds(monkeypatch, prepared: bool):
    import sys
    import types

    def load(*a, **k):
        raise AssertionError("tfds.load reached: offline it retries for minutes")
    builder = lambda name: types.SimpleNamespace(is_prepared=lambda: prepared)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(load=load, builder=builder))


def test_offline_tfds_download_is_refused_in_seconds_with_the_whole_sentence(monkeypatch):
    _fake_tfds(monkeypatch, prepared=False)
    monkeypatch.setitem(sources.DOWNLOAD_HOSTS, "mnist", "distnet-test.invalid")   # .invalid never resolves
    t0 = time.perf_counter()
    with pytest.raises(data.DataError) as e:
        data.load(_dcfg(name="mnist", source="tfds", dir="", n_train=0, n_test=0))
    assert time.perf_counter() - t0 < 30    # the lookup's own timeout is 5 s; tfds's retries take minutes
    text = str(e.value)
    assert text.startswith("tensorflow-datasets would download mnist, but distnet-test.invalid cannot be reached (")
    assert text.endswith(f"); without internet, put the four gzip IDX files in FOLDER/mnist and set "
                         f"${data.ENV_DIR}=FOLDER")


def test_a_tfds_error_is_reported_whole_not_cut_mid_word(monkeypatch):
    import sys
    import types

    long = "Failed to get url https://example/x. " + "Caused by NameResolutionError " * 10

    def load(*a, **k):
        raise OSError(long)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(
        load=load, as_numpy=None, builder=lambda n: types.SimpleNamespace(is_prepared=lambda: True)))
    with pytest.raises(data.DataError) as e:
        data.load(_dcfg(name="mnist", source="tfds", dir="", n_train=0, n_test=0))
    assert f"(OSError: {long.strip()})" in str(e.value)
