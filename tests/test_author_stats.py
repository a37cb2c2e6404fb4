"""distnet.analysis.author_stats on hand-built networks whose answers are known by hand, and in analyze's output."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distnet import data
from distnet.analysis import author_stats, stats
from distnet.nn import models
from distnet.run import folder


def _stack(*trees):
    return jax.tree_util.tree_map(lambda *a: jnp.stack([jnp.asarray(x, jnp.float32) for x in a]), *trees)


def _line(n):
    """x_i = (i, 0), i = 0..n-1."""
    return np.stack([np.arange(n, dtype=np.float32), np.zeros(n, np.float32)], axis=1)


def test_dead_and_rare_by_integer_counts_with_dead_included():
    # Units on x = (i, 0), i < 200: always active; dead; active for exactly 2 inputs (1% of 200: not rare, as
    # 2 < 0.01 * 200 is false); active for 1 input (rare); for 9 (4.5%: not rare)
    model = models.get("ReLU", hidden=5, classes=2)
    p = {"hidden": {"kernel": np.array([[1, -1, 1, 1, 1], [0, 0, 0, 0, 0]]),
                    "bias": np.array([1, -1, -197.5, -198.5, -190.5])},
         "output": {"kernel": np.ones((5, 2))}}
    p_all_active = {"hidden": {"kernel": np.ones((2, 5)), "bias": np.ones(5)}, "output": {"kernel": np.ones((5, 2))}}
    frac = stats.unit_activity(model, _stack(p, p_all_active), _line(200), batch=64)
    c = author_stats.activity_counts(frac["hidden_post"], 200)
    np.testing.assert_array_equal(c["dead"], [1, 0])
    np.testing.assert_array_equal(c["rare"], [2, 0])         # the dead unit and the 1-input unit
    assert c["units"] == 5 and author_stats.activity_counts(frac["output_post"], 200)["units"] == 2
    # distnet's definition is the same, boundary included (float32 2/200 == float32 0.01 is not below it)
    ours = stats.activity_counts(frac["hidden_post"])
    np.testing.assert_array_equal(ours["dead"], c["dead"])
    np.testing.assert_array_equal(ours["rare_1pct"], c["rare"])


def test_summary_over_runs_is_the_scripts():
    s = author_stats.summarize_counts([2, 4, 0, 2], units=10)
    assert s["mean"] == 2.0 and s["pct"] == 20.0
    assert s["std"] == pytest.approx(np.std([2, 4, 0, 2], ddof=1))             # torch.std: unbiased


def _threshold_model(act="relu"):
    """One input x; hidden units a(x) and a(3x) (the second widens the layer's range but feeds nothing);
    logits (h_0, 29.5): class 0 when h_0 > 29.5. On x = 0..99 labelled 0 from 30 on, every answer is right."""
    model = models.get(f"{'ReLU' if act == 'relu' else 'Abs'}-Bias", hidden=2, classes=2)
    p = {"hidden": {"kernel": np.array([[1.0, 3.0]]), "bias": np.zeros(2)},
         "output": {"kernel": np.array([[1.0, 0.0], [0.0, 0.0]]), "bias": np.array([0.0, 29.5])}}
    x = np.arange(100, dtype=np.float32)[:, None]
    return model, _stack(p, p), x, (np.arange(100) < 30).astype(np.int32)


def test_layer_clamp_is_one_scalar_over_the_layers_range_and_counts_q_from_the_bottom():
    model, params, x, y = _threshold_model()
    probe = author_stats.layer_clamp(model, params, x, y, batch=32)
    np.testing.assert_array_equal(probe["lo"], [0.0, 0.0])
    np.testing.assert_array_equal(probe["hi"], [297.0, 297.0])    # the layer's range: unit 1 reaches 3 * 99
    np.testing.assert_array_equal(probe["clean"], [100.0, 100.0])
    v = 297.0 * probe["q"]
    # from below, floor v: the 30 class-1 inputs go wrong once v >= 29.5 (h_0 = v ties or beats 29.5); 70% left
    np.testing.assert_allclose(probe["below"][0], np.where(v < 29.5, 100.0, 70.0), atol=1e-4)
    # from above, ceiling v: the 70 class-0 inputs go wrong once v <= 29.5; 30% left
    np.testing.assert_allclose(probe["above"][0], np.where(v > 29.5, 100.0, 30.0), atol=1e-4)
    h = author_stats.half_points(probe)
    assert np.isnan(h["below"]["seeds"]).all() and np.isnan(h["below"]["mean_curve"])   # 70% never halves
    # walking down from q = 1: 100% at q = 0.10 (v = 29.7), 30% at q = 0.09; 50% lies 5/7 of the way down
    want = 0.10 - (100 - 50) / (100 - 30) * 0.01
    np.testing.assert_allclose(h["above"]["seeds"], [want, want], rtol=1e-5)
    assert h["above"]["mean_curve"] == pytest.approx(want, rel=1e-5)


def test_half_points_of_a_clamp_that_halves_from_both_sides():
    model, params, x, _ = _threshold_model()
    params["output"]["bias"] = jnp.asarray([[0.0, 49.5]] * 2, jnp.float32)      # class 0 when h_0 > 49.5
    y = (np.arange(100) < 50).astype(np.int32)
    h = author_stats.half_points(author_stats.layer_clamp(model, params, x, y, batch=32))
    # floor v = 297 q: the 50 class-1 inputs go wrong once v >= 49.5, at q = 0.17 (v = 50.49; 47.52 at 0.16)
    np.testing.assert_allclose(h["below"]["seeds"], [0.17, 0.17], rtol=1e-5)
    # ceiling: the 50 class-0 inputs go wrong once v <= 49.5; walking down from q = 1 that is q = 0.16
    np.testing.assert_allclose(h["above"]["seeds"], [0.16, 0.16], rtol=1e-5)
    assert h["below"]["mean_curve"] == pytest.approx(0.17) and h["above"]["mean_curve"] == pytest.approx(0.16)


def test_the_range_follows_the_scripts_hooks():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 5, (40, 3)).astype(np.float32)
    for name, with_output in (("ReLU", False), ("ReLU2", False), ("Abs", True), ("Abs2", True), ("Abs2-Neg", True)):
        model = models.get(name, hidden=4, classes=3)
        params = _stack(model.init(jax.random.PRNGKey(1), x)["params"])
        assert author_stats.range_layers(model)[1] == with_output
        _, inter = models.intermediates(model, {"params": jax.tree.map(lambda a: a[0], params)}, x)
        seen = [inter["hidden_post"]] + ([inter["output_post"]] if model.spec.out_act else [])
        if with_output:       # the network's own output, after Neg: hooked because the class name holds "Abs"
            seen.append(-inter["output_post"] if model.spec.neg else inter["output_post"])
        lo, hi = author_stats.clamp_range(model, params, x, batch=16)
        assert lo[0] == pytest.approx(min(float(np.min(s)) for s in seen))
        assert hi[0] == pytest.approx(max(float(np.max(s)) for s in seen))
    # Abs: linear logits go below 0, so the range starts below every hidden value
    model = models.get("Abs", hidden=4, classes=3)
    params = _stack(model.init(jax.random.PRNGKey(1), x)["params"])
    assert author_stats.clamp_range(model, params, x)[0][0] < 0


def test_analyze_records_the_authors_statistics_for_linear_heads(analyzed):
    s = folder.load_stats(folder.variant_dir(analyzed, "ReLU"))
    a = s["author"]
    frac = np.asarray(s["activity_fraction"]["train"]["hidden_post"])
    # the counts are the script's integer definitions applied to the fractions analyze already stores
    want = author_stats.activity_counts(frac, 200)
    assert a["activity"]["train"]["hidden_post"]["dead"] == want["dead"].tolist()
    assert a["activity"]["train"]["hidden_post"]["rare"] == want["rare"].tolist()
    steps = a["clamp_steps"]
    assert len(steps) == 6 and "the script's definition" in steps[-1]["definition"]
    # step 2 only flips the direction of "from above": q = 1 - f, seed by seed (None: never halves)
    for f, q in zip(steps[0]["above"], steps[1]["above"], strict=True):
        assert (f is None and q is None) or q == pytest.approx(1 - f)
    # the script's probe starts unclamped: its clean accuracy is the checkpoint's accuracy on the training split
    vdir = folder.variant_dir(analyzed, "ReLU")
    record = folder.read_config(vdir)
    model, params_S, ds = models.from_record(record), folder.load_params(vdir, s["step"]), data.reload(record, vdir)
    want = [100 * float(np.mean(np.argmax(model.apply({"params": jax.tree.map(lambda a: a[i], params_S)},
                                                      ds.x_train), -1) == ds.y_train)) for i in range(2)]
    np.testing.assert_allclose(steps[-1]["clean"], want, atol=1e-4)   # counts of 200 inputs, as float32 sums


def test_distance_heads_get_no_author_statistics():
    model = models.get("ReLU-L2", hidden=4, classes=3)
    assert author_stats.author_statistics(model, None, None, {}) is None
