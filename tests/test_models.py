import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distnet.nn import models


def test_registry_has_exactly_the_papers_16_names_and_the_six_distance_heads():
    assert set(models.REGISTRY) == {
        "ReLU", "Abs", "ReLU2", "Abs2", "ReLU2-Neg", "Abs2-Neg",
        "ReLU-Bias", "Abs-Bias", "ReLU2-Bias", "Abs2-Bias", "ReLU2-Neg-Bias", "Abs2-Neg-Bias",
        "ReLU-L2", "ReLU-L2-Neg", "Abs-L2", "Abs-L2-Neg",
        "ReLU-RBF", "Abs-RBF", "ReLU-MD", "ReLU-MD-Neg", "Abs-MD", "Abs-MD-Neg"}
    assert len(models.PAPER) == 16 and len(models.NAMES) == 22 and set(models.NAMES) == set(models.REGISTRY)


@pytest.mark.parametrize("name", models.NAMES)
def test_parameter_names_and_shapes_are_the_documented_ones(name):
    p = models.get(name, hidden=12, classes=7).init(jax.random.PRNGKey(0), jnp.zeros((1, 20)))["params"]
    assert p["hidden"]["kernel"].shape == (20, 12) and p["hidden"]["bias"].shape == (12,)
    if name.endswith(("-L2", "-L2-Neg")):
        assert set(p["output"]) == {"mu", "alpha"}
        assert p["output"]["mu"].shape == p["output"]["alpha"].shape == (7, 12)
    elif "RBF" in name:
        assert set(p["output"]) == {"mu", "log_precision"}
        assert p["output"]["mu"].shape == p["output"]["log_precision"].shape == (7, 12)
    elif "-MD" in name:
        assert set(p["output"]) == {"mu", "P"}
        assert p["output"]["mu"].shape == (7, 12) and p["output"]["P"].shape == (7, 12, 12)   # md_rank 0: full
    else:
        assert p["output"]["kernel"].shape == (12, 7)
        assert ("bias" in p["output"]) == name.endswith("-Bias")


def test_unknown_variant_lists_valid_names():
    with pytest.raises(ValueError, match="valid variants are: ReLU, Abs"):
        models.get("Relu")


def test_same_key_gives_same_first_layer_across_variants():
    key = jax.random.PRNGKey(7)
    inits = {n: models.get(n).init(key, jnp.zeros((1, 784)))["params"] for n in models.NAMES}
    for p in inits.values():
        np.testing.assert_array_equal(p["hidden"]["kernel"], inits["ReLU"]["hidden"]["kernel"])
        np.testing.assert_array_equal(p["hidden"]["bias"], inits["ReLU"]["hidden"]["bias"])
    assert not np.array_equal(inits["ReLU"]["hidden"]["kernel"],
                              models.get("ReLU").init(jax.random.PRNGKey(8), jnp.zeros((1, 784)))["params"]["hidden"]["kernel"])


@pytest.mark.parametrize("name", ["ReLU2-Neg", "Abs-L2", "ReLU-Bias"])
def test_intermediates_are_the_forward_passs_own_values(name):
    model = models.get(name, hidden=8)
    x = np.random.default_rng(0).normal(size=(5, 784)).astype(np.float32)
    v = model.init(jax.random.PRNGKey(0), x)
    out, inter = models.intermediates(model, v, x)
    spec = models.REGISTRY[name]
    np.testing.assert_array_equal(out, model.apply(v, x))
    act = models.ACTIVATIONS[spec.act]
    np.testing.assert_allclose(inter["hidden_post"], act(inter["hidden_pre"]))
    np.testing.assert_array_equal(out, -inter["output_post"] if spec.neg else inter["output_post"])
    assert inter["hidden_pre"].shape == (5, 8) and inter["output_pre"].shape == (5, 10)


def test_from_config_reads_a_configdict_and_its_json_form(smoke_cfg):
    a = models.from_config(smoke_cfg, 7, "Abs-L2")
    b = models.from_config(smoke_cfg.to_dict(), 7, "Abs-L2")
    assert a == b == models.get("Abs-L2", hidden=smoke_cfg.hidden, classes=7, offsetl2_form=smoke_cfg.offsetl2_form)
