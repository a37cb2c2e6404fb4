"""distnet.ood: AUROC against independent computations, score signs on a network with a known answer, and the
outlier sets' preprocessing."""
from __future__ import annotations

import json

import jax
import ml_collections
import numpy as np
from scipy import stats as sps

from distnet import data
from distnet.analysis import geometry, ood
from distnet.nn import models

from helpers import write_idx_folder


def _brute(a, b):
    """P(a > b) + P(a == b) / 2 by counting every pair."""
    return np.mean([(x > y) + 0.5 * (x == y) for x in a for y in b])


def test_auroc_matches_pair_counting_and_mann_whitney():
    rng = np.random.default_rng(0)
    s_in = np.round(rng.normal(0.5, 1, (3, 120)), 1)     # rounded: many ties within and across the sets
    s_out = np.round(rng.normal(0.0, 1, (3, 90)), 1)
    got = ood.auroc(s_in, s_out)
    # rank sums of numbers with one decimal are exact in float64, so agreement is to rounding of the division
    np.testing.assert_allclose(got, [_brute(a, b) for a, b in zip(s_in, s_out)], rtol=1e-12)
    u = [sps.mannwhitneyu(a, b, alternative="two-sided").statistic for a, b in zip(s_in, s_out)]
    np.testing.assert_allclose(got, np.array(u) / (120 * 90), rtol=1e-12)
    assert ood.auroc(np.ones(4), np.ones(5))[0] == 0.5 and ood.auroc([2.0, 3.0], [1.0])[0] == 1.0


def test_the_distance_reading_ranks_far_inputs_as_outliers():
    # Analytic Mahalanobis network: the reading is minus the distance to the nearest class. Points at 100
    # Mahalanobis units from every class score below every in-distribution sample (whose distances stay
    # below ~4 + sqrt(D) here), so AUROC = 1 exactly; the class means themselves (distance 0) score above
    # every sample, so AUROC = 0.
    ds = data.gaussians(400, 200, dim=3, classes=3, seed=0, separation=1.0, spread=5.0)
    model, p = geometry.analytic_network(ds.truth)
    far = ds.truth["means"].mean(0) + 100.0 * np.eye(3)
    s_in, s_far = ood.scores(model, p, ds.x_test), ood.scores(model, p, far)
    assert ood.auroc(s_in["reading"], s_far["reading"])[0] == 1.0
    assert ood.auroc(s_in["reading"], ood.scores(model, p, ds.truth["means"])["reading"])[0] == 0.0
    np.testing.assert_allclose(-s_far["reading"][0], geometry.mahalanobis(
        np.broadcast_to(far[:, None], (3, 3, 3)), ds.truth).min(-1), rtol=1e-4)   # float32 forward
    assert np.all((s_in["msp"] >= 1 / 3) & (s_in["msp"] <= 1))


def test_intensity_variants_score_by_their_largest_unit():
    model = models.get("ReLU2", hidden=2, classes=2)
    p = {"hidden": {"kernel": np.eye(2), "bias": np.zeros(2)}, "output": {"kernel": np.array([[1.0, 0], [0, 2]])}}
    s = ood.scores(model, jax.tree.map(lambda a: np.asarray(a, np.float32)[None], p), np.array([[3.0, 1], [1, 1]]))
    np.testing.assert_allclose(s["reading"][0], [3.0, 2.0])
    np.testing.assert_allclose(s["msp"][0], [1 / (1 + np.exp(-1)), 1 / (1 + np.exp(-1))], rtol=1e-6)


def test_scores_are_the_same_in_batches():
    ds = data.gaussians(100, 50, dim=3, classes=3, seed=0)
    model, p = geometry.analytic_network(ds.truth)
    one, many = ood.scores(model, p, ds.x_train, batch=4096), ood.scores(model, p, ds.x_train, batch=16)
    for k in ood.SCORES:   # same per-row arithmetic; only the padding differs
        np.testing.assert_allclose(one[k], many[k], rtol=1e-6)


def test_noise_images_stay_in_each_dimension_s_range():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.random((300, 3)) * [1, 10, 0], np.zeros((300, 1))], 1).astype(np.float32)
    n = ood.noise_images(x, 1000)
    for img in n.values():
        assert img.shape == (1000, 4) and np.all(img >= x.min(0)) and np.all(img <= x.max(0))
        assert np.all(img[:, 2:] == 0)          # constant dimensions stay constant
    # uniform noise on [0, 10]: its mean is 5 with std 10 / sqrt(12 * 1000) = 0.09; 5 std
    assert abs(n["uniform"][:, 1].mean() - 0.5 * (x[:, 1].min() + x[:, 1].max())) < 0.46


def test_fashion_images_get_the_training_data_s_preprocessing(tmp_path):
    write_idx_folder(tmp_path / "mnist", n_train=12)
    fashion = write_idx_folder(tmp_path / "fashion_mnist", n_train=12, n_test=6)
    dcfg = ml_collections.ConfigDict({"name": "mnist", "source": "idx", "dir": str(tmp_path / "mnist"),
                                      "preprocess": "standardize", "n_train": 8, "n_test": 0,
                                      "dim": 784, "seed": 0})
    ds = data.load(dcfg)
    sets = ood.outlier_sets(dcfg, ds, n_noise=5)
    raw_train = data.load_idx(tmp_path / "mnist").x_train[:8]            # the 8 images the model trained on
    want = (fashion["x_test"].reshape(6, 16) - raw_train.mean()) / raw_train.std()
    np.testing.assert_allclose(sets["fashion_mnist"], want, rtol=1e-5, atol=1e-5)   # float32 arithmetic
    assert sets["uniform"].shape == (5, 16)


def test_summary_is_json_ready_with_an_interval_over_seeds():
    ds = data.gaussians(100, 50, dim=3, classes=3, seed=0)
    model = models.get("Abs2-Neg", hidden=8, classes=3)
    p = jax.vmap(lambda k: model.init(k, ds.x_train[:1])["params"])(jax.random.split(jax.random.PRNGKey(0), 3))
    out = ood.ood_summary(model, p, ds.x_test, ood.noise_images(ds.x_train, 40))
    json.dumps(out, allow_nan=False)
    s = out["sets"]["uniform"]["reading"]
    assert len(s["auroc"]) == 3 and s["summary"]["ci95"][0] <= s["summary"]["mean"] <= s["summary"]["ci95"][1]
    assert out["reading_kind"] == "distance"


def _no_tfds(monkeypatch):
    """Any reach for tensorflow-datasets fails the test: a run that read local files must never download."""
    import sys
    import types

    def refuse(*a, **k):
        raise AssertionError("analysis reached for tensorflow-datasets although the run read local IDX files")
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(load=refuse, builder=refuse))


def test_outlier_sets_come_from_where_the_run_read_its_data_not_the_environment(tmp_path, monkeypatch):
    """A run trained through $DISTNET_DATA_DIR (data.dir empty) is analysed with the variable unset: Fashion-MNIST
    is read beside the recorded MNIST folder, and the raw training images from that folder too."""
    write_idx_folder(tmp_path / "data" / "mnist", n_train=12)
    fashion = write_idx_folder(tmp_path / "data" / "fashion_mnist", n_train=12, n_test=6)
    monkeypatch.setenv(data.ENV_DIR, str(tmp_path / "data"))
    dcfg = {"name": "mnist", "source": "auto", "dir": "", "preprocess": "unit", "n_train": 8, "n_test": 0,
            "dim": 784, "seed": 0}
    ds = data.load(ml_collections.ConfigDict(dcfg))
    monkeypatch.delenv(data.ENV_DIR)
    _no_tfds(monkeypatch)
    sets = ood.outlier_sets(dcfg, ds, n_noise=5, log=lambda *a: None)
    # unit preprocessing is one float32 division, so the same division here is equal to the bit
    np.testing.assert_array_equal(sets["fashion_mnist"], fashion["x_test"].reshape(6, 16).astype(np.float32) / np.float32(255))


def test_a_missing_fashion_folder_skips_that_set_and_says_how_to_add_it(tmp_path, monkeypatch):
    write_idx_folder(tmp_path / "mnist", n_train=12)
    dcfg = {"name": "mnist", "source": "idx", "dir": str(tmp_path / "mnist"), "preprocess": "raw", "n_train": 0,
            "n_test": 0, "dim": 784, "seed": 0}
    ds = data.load(ml_collections.ConfigDict(dcfg))
    monkeypatch.delenv(data.ENV_DIR, raising=False)
    _no_tfds(monkeypatch)
    said = []
    sets = ood.outlier_sets(dcfg, ds, n_noise=5, log=said.append)
    assert sorted(sets) == ["gaussian", "uniform"]
    assert said == [f"  no Fashion-MNIST outlier set: no fashion_mnist/ folder in {tmp_path / 'fashion_mnist'}; put "
                    f"its four gzip IDX files in {tmp_path / 'fashion_mnist'} and run analyze again with --force to "
                    f"add it"]
