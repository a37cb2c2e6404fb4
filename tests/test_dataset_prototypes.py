"""Dataset prototypes (distnet.analysis.dataset_prototypes) on networks whose readings are planted by hand, on a
small real-MNIST run, and the image-prior search and the figures that show them."""
from __future__ import annotations

import jax
import numpy as np
import pytest
from helpers import load_config

from distnet import data
from distnet.analysis import compare, dataset_prototypes as dp, plots_prototypes, prototypes, render_known, stats
from distnet.nn import models
from distnet.run import folder


def _params(kernel, bias, out):
    p = {"hidden": {"kernel": np.asarray(kernel, np.float32), "bias": np.asarray(bias, np.float32)},
         "output": {"kernel": np.asarray(out, np.float32)}}
    return jax.tree.map(lambda a: a[None], p)                      # one seed


def _two_classes(rng, n, near, far):
    """Class c: coordinate c drawn from `near`, the other from `far` (n points each, class 1 first)."""
    a, b = rng.uniform(*near, n), rng.uniform(*far, n)
    x = np.concatenate([np.stack([b, a], 1), np.stack([a, b], 1)]).astype(np.float32)
    return x, np.repeat([1, 0], n)


def test_a_distance_network_reads_its_smallest_unit_and_flipped_reads_the_wrong_class():
    # Abs2-Neg with hidden h = |x - 1| and output unit c = |h_c| = |x_c - 1|: the network predicts the class
    # whose coordinate is nearest 1. Class c has x_c in [0.9, 1.1], the other coordinate in [2, 3].
    x, y = _two_classes(np.random.default_rng(0), 30, (0.9, 1.1), (2.0, 3.0))
    model = models.get("Abs2-Neg", hidden=2, classes=2)
    params = _params(np.eye(2), [-1.0, -1.0], np.eye(2))
    s = dp.summary(model, params, x, y, k=5)
    for c in range(2):
        np.testing.assert_array_equal(s["class_index"][0][c], np.argsort(np.abs(x[:, c] - 1), kind="stable")[:5])
    assert s["reading"] == "distance" and s["own_label_rate"] == [1.0]
    # read the wrong way round (largest unit c): every prototype carries the other class's label
    assert dp.summary(model, params, x, y, k=5, flip=True)["own_label_rate"] == [0.0]


def test_relu2_neg_ties_at_zero_go_to_the_larger_gap_not_to_the_training_order():
    # ReLU2-Neg, unit c = relu(x_c - 1): 0 for every x_c < 1. Class-1 inputs listed first also have unit 0 = 0 but
    # unit 1 just above 0 (a gap of <= 0.05); class 0's gaps are 1..2. The tie at 0 must go to class 0.
    rng = np.random.default_rng(1)
    x0, _ = _two_classes(rng, 20, (0.0, 0.9), (2.0, 3.0))
    x0 = x0[20:]                                                               # class 0 only: x0 < 1 < 2 <= x1
    amb = np.stack([rng.uniform(0, 0.9, 10), rng.uniform(1.0, 1.05, 10)], 1).astype(np.float32)
    x, y = np.concatenate([amb, x0]), np.repeat([1, 0], [10, 20])
    model = models.get("ReLU2-Neg", hidden=2, classes=2)
    s = dp.summary(model, _params(np.eye(2), [-1.0, -1.0], np.eye(2)), x, y, k=8)
    np.testing.assert_array_equal(s["class_index"][0][0], 10 + np.argsort(-x0[:, 1], kind="stable")[:8])
    assert s["own_label_by_class"][0][0] == 1.0


def test_an_intensity_network_reads_the_largest_margin_and_hyperplanes_are_measured_in_input_units():
    # ReLU with hidden 2x - 2 (hyperplane x_u = 1, |w| = 2) and output = identity: margin of class c is
    # 2 (x_c - x_other) where both exceed 1. Class c has x_c in [2, 3], the other in [1, 1.5].
    x, y = _two_classes(np.random.default_rng(2), 25, (1.0, 1.5), (2.0, 3.0))
    x = x[:, ::-1].copy()                                                     # class c: large x_c
    model = models.get("ReLU", hidden=2, classes=2)
    params = _params(2 * np.eye(2), [-2.0, -2.0], np.eye(2))
    s = dp.summary(model, params, x, y, k=6)
    for c in range(2):
        np.testing.assert_array_equal(s["class_index"][0][c], np.argsort(-(x[:, c] - x[:, 1 - c]), kind="stable")[:6])
    assert s["reading"] == "margin" and s["own_label_rate"] == [1.0]
    assert dp.summary(model, params, x, y, k=6, flip=True)["own_label_rate"] == [0.0]
    d = x[:, 0] - 1                                                           # unit 0's signed distance
    np.testing.assert_array_equal(s["nearest"][0][0], np.argsort(np.abs(d), kind="stable")[:6])
    np.testing.assert_array_equal(s["positive"][0][0], np.argsort(-d, kind="stable")[:6])
    np.testing.assert_array_equal(s["negative"][0][0], np.argsort(d, kind="stable")[:6])
    np.testing.assert_allclose(s["offset_positive"][0][0], np.sort(d)[::-1][:6], rtol=1e-6)


def test_small_batches_and_a_seed_chunk_give_the_one_batch_answer(smoke_run):
    vdir = smoke_run / "Abs2-Neg"
    record = folder.read_config(vdir)
    ds, model = data.reload(record, vdir), models.from_record(record)
    params = folder.load_params(vdir)
    whole = dp.find(model, params, ds.x_train, batch=len(ds.x_train))
    with stats.bounded(1):                                     # 2 seeds over a chunk of 1: half-size batches
        assert stats.batch_rows(2, 37) == 18
        small = dp.find(model, params, ds.x_train, batch=37)
    for key in ("class_index", "nearest", "positive", "negative"):
        np.testing.assert_array_equal(whole[key], small[key])


def test_analyze_records_dataset_prototypes_and_the_report_says_their_label_rate(analyzed):
    s = folder.load_stats(analyzed / "Abs2-Neg")
    d = s["dataset_prototypes"]
    record = folder.read_config(analyzed / "Abs2-Neg")
    ds = data.reload(record, analyzed / "Abs2-Neg")
    seeds, classes = len(d["own_label_rate"]), ds.classes
    assert np.shape(d["class_index"]) == (seeds, classes, dp.K) and np.shape(d["nearest"]) == (seeds, dp.UNITS, dp.K)
    np.testing.assert_array_equal(d["labels"], ds.y_train[np.asarray(d["class_index"])])
    # the units shown are each seed's most class-separating ones
    sep = np.asarray(s["class_distributions"]["separation"])
    np.testing.assert_array_equal(np.sort(sep[np.arange(seeds)[:, None], d["units"]], -1)[:, ::-1],
                                  np.sort(sep, -1)[:, ::-1][:, :dp.UNITS])
    assert "prior_prototypes" not in s                                       # Gaussians: not images
    rep, _ = compare.build([analyzed])
    lines = render_known.input_prototypes_section(rep)
    rates = [100 * np.mean(folder.load_stats(analyzed / v)["dataset_prototypes"]["own_label_rate"])
             for v in ("ReLU", "Abs2-Neg")]
    for v, rate in zip(("ReLU", "Abs2-Neg"), rates):
        assert any(line.startswith(f"- {v}: dataset prototypes with their class's label {rate:.1f}") for line in lines)


@pytest.fixture(scope="session")
def mnist_small_run(mnist_dir, tmp_path_factory):
    """ReLU and Abs2-Neg, 2 seeds, 8,000 standardized real MNIST images, 150 full-batch epochs: above 90% test
    accuracy (2,000 images stop near 89% at any lr; 60 epochs at this lr reach 89-90%)."""
    from distnet.run import study

    cfg = load_config("smoke")
    cfg.variants, cfg.lr, cfg.hidden, cfg.num_seeds, cfg.epochs = "ReLU,Abs2-Neg", 0.2, 32, 2, 150
    cfg.checkpoint_every = cfg.chunk_epochs = 150
    cfg.data.name, cfg.data.dir, cfg.data.n_train, cfg.data.n_test = "mnist", str(mnist_dir), 8000, 1000
    cfg.data.preprocess = "standardize"
    workdir = tmp_path_factory.mktemp("mnist_small")
    study.run_all(cfg, workdir, log=lambda *a: None)
    return workdir


def test_on_mnist_the_dataset_prototypes_of_accurate_networks_carry_their_own_label(mnist_small_run):
    checked = 0
    for v in ("ReLU", "Abs2-Neg"):
        vdir = mnist_small_run / v
        record = folder.read_config(vdir)
        ds, model, params = data.reload(record, vdir), models.from_record(record), folder.load_params(vdir)
        acc = folder.load_metrics(vdir)["test_acc"][:, -1]
        right, wrong = (dp.summary(model, params, ds.x_train, ds.y_train, flip=f)["own_label_rate"] for f in (0, 1))
        for seed in np.flatnonzero(acc > 0.9):
            assert right[seed] >= 0.9, (v, seed, right)
            assert wrong[seed] < 0.5, (v, seed, wrong)                    # the wrong way round fails the check
            checked += 1
    assert checked >= 2, "the run is meant to pass 90% test accuracy: the check above would be vacuous"


def test_the_image_prior_search_lowers_its_priors_from_the_class_mean_and_runs_for_images_only():
    # a network whose reading is constant (zero output kernel): the search minimises TV + subspace distance alone,
    # from each class's mean image, so it must end below where it started; 63 pixels are not an image
    rng = np.random.default_rng(3)
    x, y = rng.random((200, 64)).astype(np.float32), np.arange(200) % 2
    model = models.get("ReLU", hidden=4, classes=2)
    params = _params(rng.normal(size=(64, 4)), np.zeros(4), np.zeros((4, 2)))
    out = prototypes.find(model, params, x, steps=50, y_train_N=y)["prior"]
    pr = prototypes._prior_inputs(model.spec, x, y, 2)

    def penalty(img):
        r = (img - pr["mean"]) - pr["basis"] @ (pr["basis"].T @ (img - pr["mean"]))
        im = img.reshape(8, 8)
        tv = np.mean(np.sqrt(np.diff(im, axis=0)[:, :-1] ** 2 + np.diff(im, axis=1)[:-1] ** 2))
        return prototypes.LAM_TV * tv / pr["scale"] + prototypes.LAM_PCA * np.mean(r ** 2) / pr["scale"] ** 2

    np.testing.assert_allclose(out["start"], [x[y == 0].mean(0), x[y == 1].mean(0)], rtol=1e-5)
    for c in range(2):
        assert penalty(out["x"][0, c]) < 0.9 * penalty(out["start"][c]), c
    assert (out["moved"] > 0).all()
    params63 = _params(rng.normal(size=(63, 4)), np.zeros(4), np.zeros((4, 2)))
    assert "prior" not in prototypes.find(model, params63, x[:, :63], steps=5, y_train_N=y)


def test_the_figures_name_each_method_and_list_on_their_rows(tmp_path):
    rng = np.random.default_rng(4)
    classes, k, units, dim = 3, 4, 2, 64
    folder.write_prototypes(tmp_path, rng.random((1, classes, dim)), rng.random((1, classes, dim)))
    np.savez(tmp_path / dp.IMAGES_FILE, dataset=rng.random((classes, k, dim)), prior=rng.random((1, classes, dim)),
             **{f"unit_{s}": rng.random((units, k, dim)) for s in dp.SIDES})
    labels = np.tile(np.arange(classes)[:, None], (1, k))
    labels[1, 0] = 2
    stats_ = {"input_prototypes": {"predicted": [[0, 1, 2]]}, "prior_prototypes": {"predicted": [[0, 2, 2]]},
              "dataset_prototypes": {"labels": [labels.tolist()], "image_seed": 0, "units": [[5, 7]],
                                     **{f"offset_{s}": np.ones((1, units, k)).tolist() for s in dp.SIDES}}}
    rec = {"name": "V", "dir": tmp_path, "stats": stats_, "protocol": {"data": "mnist"}}
    assert [n for n, _, _ in plots_prototypes.figures([rec], ("mnist",))] == ["prototypes_by_method",
                                                                              "hidden_unit_images"]
    fig = plots_prototypes.methods_grid([rec])
    left = [fig.axes[i * classes].get_ylabel() for i in range(3)]
    assert left == ["V\noptimised (box)", "optimised (image prior)", "dataset: strongest reading"]
    titles = [a.get_title() for a in fig.axes]
    assert titles[classes + 1] == "1->2" and titles[2 * classes + 1] == "1: 3/4 own"
    fig = plots_prototypes.unit_grid([rec])
    assert [fig.axes[i * units].get_ylabel().split("\n")[-1] for i in range(3)] == ["its hyperplane", "on + side",
                                                                                     "on - side"]
    assert fig.axes[1].get_title().startswith("unit 7")
