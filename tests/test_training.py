import chex
import jax
import numpy as np
import pytest

from distnet import checkpoint, data, experiment, models, runs, training

import reference


def _small_data(n=96, dim=20, seed=0, scale=3.0):
    ds = data.gaussians(n, 48, dim=dim, classes=10, seed=seed)
    ds.x_train *= scale
    ds.x_test *= scale
    return ds


@pytest.mark.parametrize("name,form", [(n, "paper") for n in models.NAMES] + [("Abs-L2-Neg", "code"), ("ReLU-L2", "code")])
def test_sgd_steps_match_numpy(name, form):
    ds = _small_data()
    model = models.get(name, hidden=16, offsetl2_form=form)
    trainer = training.make_train(model, lr=0.05, eval_every=1, input_dim=ds.dim)
    p0 = trainer.init(jax.random.PRNGKey(3))
    params, m = jax.jit(trainer.run, static_argnums=2)(p0, training.to_device(ds), 3)

    spec, p = models.REGISTRY[name], reference.to64(p0)
    x, xt = ds.x_train.astype(np.float64), ds.x_test.astype(np.float64)
    for e in range(3):
        p, loss, acc = reference.sgd_step(spec, p, x, ds.y_train, 0.05, form)
        assert float(m.train_loss[e]) == pytest.approx(loss, rel=1e-4)     # loss before epoch e's update
        assert float(m.train_acc[e]) == pytest.approx(acc, abs=1.5 / len(x))
        assert float(m.test_acc[e]) == pytest.approx(reference.accuracy(spec, p, xt, ds.y_test, form),
                                                     abs=1.5 / len(xt))   # after the update
    chex.assert_trees_all_close(jax.tree.map(np.asarray, params), p, rtol=2e-4, atol=1e-5)


def test_evaluate_gives_initial_metrics():
    ds = _small_data()
    model = models.get("Abs2", hidden=16)
    trainer = training.make_train(model, lr=0.05, input_dim=ds.dim)
    p0 = trainer.init(jax.random.PRNGKey(0))
    m0 = trainer.evaluate(p0, training.to_device(ds))
    _, loss, acc = reference.sgd_step(models.REGISTRY["Abs2"], reference.to64(p0), ds.x_train.astype(np.float64),
                                      ds.y_train, 0.05)
    assert float(m0.train_loss) == pytest.approx(loss, rel=1e-5) and float(m0.train_acc) == pytest.approx(acc)


def test_vmapped_seeds_equal_a_loop_over_single_seeds():
    ds = _small_data()
    d = training.to_device(ds)
    trainer = training.make_train(models.get("ReLU2-Neg", hidden=16), lr=0.05, epochs=6, eval_every=2,
                                  input_dim=ds.dim)
    init, run, _ = trainer.vmapped()
    keys = training.seed_keys(5, 3)
    params_S, m_S = run(init(keys), d, 6)
    assert m_S.test_acc.shape == (3, 3)
    for i in range(3):
        params_i, m_i = trainer.train(keys[i], d)
        chex.assert_trees_all_close(jax.tree.map(lambda a: a[i], params_S), params_i, rtol=1e-5, atol=1e-6)
        chex.assert_trees_all_close(jax.tree.map(lambda a: a[i], m_S), m_i, rtol=1e-5, atol=1e-6)


def test_seed_keys_do_not_depend_on_num_seeds():
    np.testing.assert_array_equal(training.seed_keys(0, 5)[:2], training.seed_keys(0, 2))
    assert not np.array_equal(training.seed_keys(0, 2), training.seed_keys(1, 2))


@pytest.mark.parametrize("epochs,ckpt,ev,target,want", [
    (5000, 1000, 1, 100, 100), (200, 100, 1, 50, 50), (20, 10, 2, 100, 10), (21, 7, 7, 5, 7), (30, 12, 3, 100, 6)])
def test_chunk_length(epochs, ckpt, ev, target, want):
    got = training.chunk_length(epochs, ckpt, ev, target)
    assert got == want and epochs % got == 0 and ckpt % got == 0 and got % ev == 0


def test_no_recompilation_inside_a_run(smoke_cfg, tmp_path, monkeypatch):
    make_train = training.make_train

    def counted(*args, **kwargs):
        t = make_train(*args, **kwargs)
        return t._replace(run=chex.assert_max_traces(t.run, n=1))

    monkeypatch.setattr(training, "make_train", counted)
    smoke_cfg.variants = "Abs"
    experiment.run_all(smoke_cfg, tmp_path, log=lambda *a: None)   # 4 chunks of 5 epochs, one trace
    assert runs.load_metrics(tmp_path / "Abs")["epoch"][-1] == 20


def test_real_mnist_trajectory_matches_numpy_from_step0_checkpoint(mnist_dir, smoke_cfg, tmp_path):
    """The protocol on raw MNIST pixels: an independent float64 numpy run started from our step-0
    checkpoint follows our trajectory. Abs2-Neg's first epochs on raw pixels are chaotic (a float32 numpy
    run leaves the float64 one after about 4 epochs, as ours does), so it is held for its first 3 epochs."""
    cfg = smoke_cfg
    cfg.variants, cfg.lr, cfg.hidden, cfg.num_seeds, cfg.epochs = "ReLU,Abs2-Neg", 1e-3, 128, 1, 10
    cfg.checkpoint_every, cfg.chunk_epochs = 10, 10
    cfg.data.name, cfg.data.dir, cfg.data.n_train, cfg.data.n_test = "mnist", str(mnist_dir), 2000, 1000
    experiment.run_all(cfg, tmp_path, log=lambda *a: None)
    ds = data.load(cfg.data)
    x, xt = ds.x_train.astype(np.float64), ds.x_test.astype(np.float64)
    for name, epochs in (("ReLU", 10), ("Abs2-Neg", 3)):
        p = reference.to64(jax.tree.map(lambda a: np.asarray(a)[0], checkpoint.restore(tmp_path / name, 0)))
        m = runs.load_metrics(tmp_path / name)
        spec = models.REGISTRY[name]
        for e in range(1, epochs + 1):
            p, loss, acc = reference.sgd_step(spec, p, x, ds.y_train, 1e-3)
            assert m["train_loss"][0, e] == pytest.approx(loss, rel=1e-5)
            assert abs(m["test_acc"][0, e] - reference.accuracy(spec, p, xt, ds.y_test)) <= 2e-3


def test_variants_with_the_same_parameters_share_one_init_program_and_its_exact_values():
    """The trainer's init comes from the variant's param_twin (one compiled program for the six main variants);
    it must equal the program each variant compiled for itself bit for bit. One variant per twin, each as far
    from its twin as variants go (other activations, Neg, output bias, the other OffsetL2 form)."""
    keys = training.seed_keys(4, 3)
    for name, form in [("Abs2-Neg", "paper"), ("Abs2-Neg-Bias", "paper"), ("Abs-L2-Neg", "code")]:
        model = models.get(name, hidden=16, offsetl2_form=form)
        init = training.make_train(model, 1e-3, input_dim=20).jitted()[0]
        own = jax.jit(jax.vmap(lambda k: model.init(k, np.zeros((1, 20), np.float32))["params"]))(keys)
        chex.assert_trees_all_equal(init(keys), own)
    twins = {models.param_twin(models.get(n)) for n in models.MAIN}
    assert len(twins) == 1
