"""distnet.analysis.atlas and plots_atlas: the feature-space atlas's PCA, seed agreement and figures, on a planted
case with a known answer and on the analyzed smoke run."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from distnet.analysis import atlas, compare, plots_atlas, stats  # noqa: E402
from distnet.nn import models  # noqa: E402
from distnet.run import folder  # noqa: E402

# --- a planted case: class means on a known plane of a 6-d hidden layer that passes its inputs through -------------

LAYOUT = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 2.0], [3.0, 2.5]])   # the classes' places on the plane


def _planted(seed=0, n=400, noise=0.02):
    """Inputs of 4 classes whose means are LAYOUT on the plane of two orthonormal 6-d directions (plus a shift
    off the origin), and a ReLU network whose hidden layer is x + 50 (ReLU never cuts it) per seed: seed 0 as is,
    seed 1 with its units permuted and scaled by 3 (the same picture), seed 2 squashing the plane's second
    direction (another picture)."""
    rng = np.random.default_rng(seed)
    plane_2x6 = np.linalg.qr(rng.normal(size=(6, 2)))[0].T
    y = np.arange(n) % 4
    x = (LAYOUT[y] @ plane_2x6 + 5.0 + noise * rng.normal(size=(n, 6))).astype(np.float32)
    squash = np.eye(6) - 0.9 * np.outer(plane_2x6[1], plane_2x6[1])
    kernels = [np.eye(6), 3.0 * np.eye(6)[rng.permutation(6)], squash]
    params = {"hidden": {"kernel": np.stack(kernels).astype(np.float32),
                         "bias": np.stack([np.full(6, 50.0), np.full(6, 150.0), np.full(6, 50.0)]).astype(np.float32)},
              "output": {"kernel": np.asarray(rng.normal(size=(3, 6, 4)), np.float32)}}
    return models.get("ReLU", hidden=6, classes=4), params, x, y


def _pairwise(a):
    return np.linalg.norm(a[:, None] - a[None], axis=-1)


def _layout(model, params, x, y):
    mom = atlas.moments(model, params, x, y, 4, batch=64)["hidden_post"]
    comps, shares = atlas.pca(mom["cov"])
    return mom, np.einsum("scu,sku->sck", mom["class_means"] - mom["mean"][:, None], comps), shares


def test_pca_recovers_a_planted_class_layout_up_to_rotation_and_its_variance_shares():
    model, params, x, y = _planted()
    mom, layout, shares = _layout(model, params, x, y)
    # seed 0: the plane is isometric to the layer, so every class-mean distance is the planted one
    np.testing.assert_allclose(_pairwise(layout[0]), _pairwise(LAYOUT), atol=0.02)
    np.testing.assert_allclose(_pairwise(layout[1]), 3 * _pairwise(LAYOUT), atol=0.06)   # units scaled by 3
    assert shares[0, :2].sum() > 0.99 and np.all(np.diff(shares, axis=-1) <= 1e-12)
    # the shares are those of the class layout itself: per-axis variance of the planted means, largest first
    lay = LAYOUT - LAYOUT.mean(0)
    expected = np.linalg.eigvalsh(lay.T @ lay / 4)[::-1]
    np.testing.assert_allclose(shares[0, :2], expected / expected.sum(), atol=0.01)
    # and the moments are those of the values themselves (batched, shifted sums against numpy on all of them),
    # the same when seed_chunk bounds the pass to one seed's rows per batch
    h = np.asarray(atlas.values(model, params, x)["hidden_post"], np.float64)
    np.testing.assert_allclose(mom["cov"], np.stack([np.cov(s.T, bias=True) for s in h]), rtol=1e-3, atol=1e-3)
    with stats.bounded(1):
        assert stats.batch_rows(3, 64) == 21
        chunked = atlas.moments(model, params, x, y, 4, batch=64)["hidden_post"]
    np.testing.assert_allclose(chunked["cov"], mom["cov"], rtol=1e-4, atol=1e-4)


def test_seed_agreement_is_one_for_the_same_picture_and_lower_for_another_or_shuffled_labels():
    model, params, x, y = _planted()
    mom, layout, _ = _layout(model, params, x, y)
    same = atlas.seed_agreement(mom["class_means"][:2], layout[:2])    # seed 1: permuted, scaled units
    assert same["seeds"] == 2 and same["layout"] == pytest.approx(1, abs=1e-4)
    assert same["distances"] == pytest.approx(1, abs=1e-4)
    other = atlas.seed_agreement(mom["class_means"][[0, 2]], layout[[0, 2]])
    assert other["layout"] < 0.95
    # one seed's class means against the same seed's under shuffled labels (each class a random mix): unlike
    # a relabelling that mirrors the rectangle (classes 0 <-> 2 and 1 <-> 3), which is the same picture
    shuffled = np.random.default_rng(0).permutation(y)
    pairs = []
    for labels in (shuffled, np.array([2, 3, 0, 1])[y]):
        mom_s, layout_s, _ = _layout(model, params, x, labels)
        pairs.append(atlas.seed_agreement(np.stack([mom["class_means"][0], mom_s["class_means"][0]]),
                                          np.stack([layout[0], layout_s[0]])))
    assert pairs[0]["layout"] < 0.6 and pairs[0]["distances"] < 0.5
    assert pairs[1]["layout"] > 0.99
    three = atlas.seed_agreement(mom["class_means"], layout)
    assert three["pairs"] == 3 and three["layout_worst"] == pytest.approx(other["layout"])
    assert np.isnan(atlas.seed_agreement(mom["class_means"][:1], layout[:1])["layout"])   # one seed: no agreement


def test_procrustes_agreement_ignores_rotation_reflection_scale_and_shift_only():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(10, 2))
    turn = np.array([[0.6, -0.8], [0.8, 0.6]]) @ np.diag([1, -1])
    assert atlas.procrustes_agreement(a, 4 * a @ turn + 7) == pytest.approx(1, abs=1e-9)
    assert atlas.procrustes_agreement(a, a * [1, 0.2]) < 0.99
    assert atlas.procrustes_agreement(a, rng.normal(size=(10, 2))) < 0.7


# --- the smoke run ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke_atlases(analyzed):
    return plots_atlas.compute(compare.gather([analyzed]), seed=1, log=lambda *a: None)


def test_smoke_atlas_coordinates_carry_the_variance_shares_its_axes_are_labelled_with(analyzed, smoke_atlases):
    assert [a["name"] for a in smoke_atlases] == ["ReLU", "Abs2-Neg"]
    a = smoke_atlases[1]
    assert a["seed"] == 1 and a["seeds"] == 2 and len(a["train_y"]) == 200     # every input of the tiny split
    model = models.from_record(folder.read_config(analyzed / "Abs2-Neg"))
    params = jax.tree_util.tree_map(lambda p: p[1:2], folder.load_params(analyzed / "Abs2-Neg"))
    for layer, units in (("hidden_post", 16), ("output_post", 10)):
        L = a["layers"][layer]
        assert L["shares"].shape == (units,) and np.all((L["shares"] >= 0) & (L["shares"] <= 1))
        assert 0 < L["shares"][1] <= L["shares"][0] <= 1 and np.all(np.diff(L["shares"]) <= 1e-12)
        total = np.var(np.asarray(atlas.values(model, params, a_x(analyzed))[layer][0], np.float64), 0).sum()
        np.testing.assert_allclose(L["train"].var(0) / total, L["shares"][:2], rtol=1e-3)
        assert {"prototypes", "truth_means", "truth_axes"} <= set(L) and "centres" not in L
    assert len(a["missed_y"]) == round((1 - a["accuracy"]) * 100)


def a_x(run):
    from distnet import data
    vdir = run / "Abs2-Neg"
    return data.reload(folder.read_config(vdir), vdir).x_train


def test_atlas_figures_are_written_with_variance_labels_legend_and_seed_agreement(smoke_atlases, tmp_path):
    from distnet.analysis import report_files
    a = smoke_atlases[1]
    fig = plots_atlas.variant_figure(a)
    hidden, output = fig.axes
    assert hidden.get_xlabel() == f"PC1 ({plots_atlas.percent(a['layers']['hidden_post']['shares'][0])} of the variance)"
    assert [plots_atlas.percent(v) for v in (0.14, 0.0031, 0.9996, 1.0)] == ["14%", "0.31%", "99.96%", "100%"]
    assert "of the variance" in output.get_ylabel() and "seed agreement (2 seeds): layout" in hidden.get_title()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:10] == [f"class {c}" for c in range(10)]
    assert "input-space prototype, mapped" in labels and "true class mean, mapped" in labels
    assert not any("learned centre" in t for t in labels)                      # neither head has centres
    path = report_files.save_figure(tmp_path, "feature_atlas_Abs2-Neg", fig)
    plt.close(fig)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    todo = plots_atlas.figures([], tmp_path)
    assert todo == [] and not (tmp_path / "figures" / "atlas.json").exists()   # nothing to draw: no numbers


def test_all_figures_names_the_atlas_figures_and_writes_their_numbers(analyzed, tmp_path):
    from distnet.analysis import plots
    records = compare.gather([analyzed])
    todo = plots_atlas.figures(records, tmp_path, log=lambda *a: None)
    assert [name for name, _, _ in todo] == ["feature_atlas_grid_hidden", "feature_atlas_grid_output",
                                             "feature_atlas_ReLU", "feature_atlas_Abs2-Neg"]
    numbers = json.loads((tmp_path / "figures" / "atlas.json").read_text())
    assert set(numbers) == {"ReLU", "Abs2-Neg"}
    g = numbers["ReLU"]["hidden_post"]
    assert 0 <= g["seed_agreement"]["layout"] <= 1 and g["seed_agreement"]["pairs"] == 1
    assert len(g["variance_share"]) == 2 and g["variance_share"][0] >= g["variance_share"][1] > 0
    fig = todo[0][1](todo[0][2])
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2 and "ReLU" in fig.axes[0].get_title()
    plt.close(fig)
    assert plots.plots_atlas is plots_atlas
