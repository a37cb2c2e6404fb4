"""distnet.run.fit: the study's protocol on a researcher's own arrays, and params applied to inputs."""
from __future__ import annotations

import re

import numpy as np
import pytest

from distnet import data
from distnet.config import ConfigError
from distnet.run import fit, folder

from helpers import load_config


@pytest.fixture(scope="module")
def smoke_arrays():
    ds = data.load(load_config("smoke").data)
    return ds.x_train, ds.y_train, ds.x_test, ds.y_test


def test_fit_runs_the_studys_program_the_first_chunk_bit_for_bit(smoke_cfg, smoke_run, smoke_arrays):
    """fit's first 5 epochs are the compiled program of the smoke study's first chunk (chunk_epochs=5), with the
    same seed keys: the same program on the same inputs, so bitwise."""
    for variant in ("ReLU", "Abs2-Neg"):
        r = fit.fit(variant, *smoke_arrays, seeds=smoke_cfg.num_seeds, epochs=smoke_cfg.chunk_epochs,
                    lr=smoke_cfg.lr, hidden=smoke_cfg.hidden)
        study = folder.load_metrics(smoke_run / variant)
        assert r.metrics["epoch"].tolist() == study["epoch"][:6].tolist() == [0, 1, 2, 3, 4, 5]
        for k in folder.METRICS:
            np.testing.assert_array_equal(r.metrics[k], study[k][:, :6], err_msg=f"{variant} {k}")
        assert r.params["hidden"]["kernel"].shape == (smoke_cfg.num_seeds, 16, smoke_cfg.hidden)


def test_one_hot_labels_and_image_shaped_inputs_train_as_their_flat_integer_forms(smoke_arrays):
    x_tr, y_tr, x_te, y_te = smoke_arrays
    plain = fit.fit("ReLU", x_tr, y_tr, x_te, y_te, seeds=2, epochs=3, lr=0.05, hidden=8)
    shaped = fit.fit("ReLU", x_tr.reshape(-1, 4, 4), np.eye(10)[y_tr], x_te.reshape(-1, 4, 4, 1), np.eye(10)[y_te],
                     seeds=2, epochs=3, lr=0.05, hidden=8)
    for k in folder.METRICS:
        np.testing.assert_array_equal(plain.metrics[k], shaped.metrics[k])


def test_apply_gives_every_seed_or_one_and_matches_the_recorded_accuracy(smoke_run, smoke_arrays):
    model, params_S = fit.load(smoke_run / "ReLU")
    x_te, y_te = smoke_arrays[2], smoke_arrays[3]
    logits_SxNxC = fit.apply(model, params_S, x_te)
    assert logits_SxNxC.shape == (2, len(x_te), 10)
    acc_S = (logits_SxNxC.argmax(-1) == y_te).mean(1)
    # the run folder's final test accuracy came from the same params: equal up to predictions whose top two
    # logits differ by float32 rounding (none at this size; one example would be 1/100)
    np.testing.assert_allclose(acc_S, folder.load_metrics(smoke_run / "ReLU")["test_acc"][:, -1], atol=0.015)
    one = fit.apply(model, params_S, x_te, seed=1)
    assert one.shape == (len(x_te), 10)
    # alone vs inside the vmapped batch: sums of 16 + 16 float32 products, maybe reordered: < 32 * 2^-24 relative
    np.testing.assert_allclose(one, logits_SxNxC[1], atol=2e-6 * np.abs(logits_SxNxC).max())
    single = {"hidden": {k: v[1] for k, v in params_S["hidden"].items()},
              "output": {k: v[1] for k, v in params_S["output"].items()}}
    np.testing.assert_array_equal(fit.apply(model, single, x_te), one)


@pytest.mark.parametrize("change, says", [
    (lambda a: {**a, "y_train": a["y_train"][:-1]}, "x_train has 200 examples but y_train has 199 labels"),
    (lambda a: {**a, "x_test": a["x_test"][:, :5]}, "x_train has 16 features per example but x_test has 5"),
    (lambda a: {**a, "y_train": a["y_train"] + 0.5}, "y_train holds non-integer labels"),
    (lambda a: {**a, "y_test": -a["y_test"] - 1}, "y_test holds labels outside"),
    (lambda a: {**a, "x_train": np.where(np.arange(16) == 3, np.nan, a["x_train"])}, "x_train holds NaN or Inf"),
    (lambda a: {**a, "x_train": a["x_train"][:, 0]}, "x_train must hold one example per row"),
    (lambda a: {**a, "y_train": a["y_train"].astype(str)}, "y_train holds strings such as '0', not class indices"),
    (lambda a: {**a, "y_train": a["y_train"] + 1, "y_test": a["y_test"] + 1},
     "y_train and y_test have no label 0 although their largest is 10, so that class would never be seen; "
     "relabel to 0..C-1"),
    (lambda a: {**a, "y_train": np.eye(10)[a["y_train"]], "y_test": np.eye(12)[a["y_test"]]},
     "one-hot rows of different widths [10, 12]"),
    # a label past int32 would wrap to another class on the device (2**32 + 1 -> class 1)
    (lambda a: {**a, "y_train": np.where(a["y_train"] == 1, 2 ** 32 + 1, a["y_train"].astype(np.int64))}, "y_train holds labels "
     "outside 0..2147483646: min 0, max 4294967297"),
    (lambda a: {**a, "y_train": np.where(a["y_train"] == 1, 3e9, a["y_train"])}, "y_train holds labels outside"),
    (lambda a: {**a, "x_train": a["x_train"] + 1j}, "x_train holds complex numbers"),
    (lambda a: {**a, "x_train": a["x_train"][:0], "y_train": a["y_train"][:0]}, "x_train holds no values"),
    (lambda a: {**a, "x_train": a["x_train"][:, :0], "x_test": a["x_test"][:, :0]}, "x_train holds no values")])
def test_bad_arrays_are_refused_naming_the_array(smoke_arrays, change, says):
    arrays = change(dict(zip(("x_train", "y_train", "x_test", "y_test"), smoke_arrays)))
    with pytest.raises(ValueError, match=re.escape(says)):
        fit.fit("ReLU", **arrays, seeds=1, epochs=1)


@pytest.mark.parametrize("kwargs, says", [({"seeds": 0}, "seeds=0 must be a positive integer"),
                                          ({"epochs": 10, "eval_every": 3}, "eval_every=3 must divide epochs=10"),
                                          # train.py's own checks (config.check): one validation for both doors
                                          *[({"lr": lr}, "must be a finite number > 0")
                                            for lr in (-1, 0, float("nan"), float("inf"), "0.01")],
                                          ({"seed": 2 ** 32}, "seed=4294967296 must be an integer in 0..4294967295"),
                                          ({"seed_chunk": -1}, "seed_chunk=-1 must be an integer >= 0"),
                                          ({"offsetl2_form": "nope"}, "offsetl2_form='nope'; choose one of")])
def test_bad_settings_are_refused_before_anything_compiles(smoke_arrays, kwargs, says):
    with pytest.raises(ConfigError, match=says):
        fit.fit("ReLU", *smoke_arrays, **kwargs)


def test_an_unknown_variant_is_refused_with_the_known_names(smoke_arrays):
    with pytest.raises(ConfigError, match="Abs2-Neg"):
        fit.fit("Abs3", *smoke_arrays)


def test_apply_refuses_inputs_of_the_wrong_width(smoke_run):
    model, params_S = fit.load(smoke_run / "ReLU")
    with pytest.raises(ValueError, match="x has 5 features per example; the model was trained on 16"):
        fit.apply(model, params_S, np.zeros((3, 5)))


@pytest.mark.parametrize("seed", [2, -1, 1.0])
def test_apply_refuses_a_seed_the_params_do_not_hold(smoke_run, seed):
    model, params_S = fit.load(smoke_run / "ReLU")       # 2 seeds
    with pytest.raises(ValueError, match=rf"seed={seed!r} must pick one of the params' 2 seeds: an integer in 0\.\.1"):
        fit.apply(model, params_S, np.zeros((3, 16)), seed=seed)


def test_one_hot_rows_give_the_class_count_even_when_a_class_has_no_example(smoke_arrays):
    """What fit builds its model with when classes= is not given (checked without compiling a model)."""
    y_tr, y_te = smoke_arrays[1], smoke_arrays[3]           # labels 0..9
    labels, width = fit._labels(np.eye(12)[y_tr], "y_train", None)
    np.testing.assert_array_equal(labels, y_tr)
    assert fit._classes(labels, y_te, {width, None}) == 12      # the rows name 12 classes; labels reach 9
    assert fit._classes(y_tr, y_te, {None}) == 10


def test_seeds_that_go_nan_are_flagged_as_train_py_flags_them(smoke_arrays):
    x_tr, y_tr, x_te, y_te = smoke_arrays
    with pytest.warns(UserWarning, match=r"NaN/Inf for seed\(s\) \[0\]"):
        big = 1e38 / np.abs(x_tr).max()            # finite inputs whose products overflow float32
        out = fit.fit("ReLU", x_tr * big, y_tr, x_te * big, y_te, seeds=1, epochs=2)
    assert out.metrics["diverged_epoch"].tolist() == [1] and np.isnan(out.metrics["train_loss"][0, -1])
