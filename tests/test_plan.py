"""distnet.run.plan: every field checked before anything runs, and what a study derives from its config."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from distnet import config, data
from distnet.nn import models
from distnet.run import plan, study
from distnet.run.precision import resolve_split

from helpers import ROOT, load_config, raw_pixels


@pytest.mark.parametrize("field, value, says", [
    ("variants", "ReLU,Nope", "unknown variant 'Nope'"), ("matmul_precision", "fast", "config.matmul_precision='fast'"),
    ("split", "int8", "config.split='int8'"), ("offsetl2_form", "other", "config.offsetl2_form='other'"),
    ("data.name", "cifar", "config.data.name='cifar'; choose one of mnist"),
    ("data.n_train", -1, "config.data.n_train=-1"), ("data.dim", 0, "config.data.dim=0 must be a positive integer"),
    ("epochs", -5, "config.epochs=-5")])
def test_validate_names_the_bad_field(smoke_cfg, field, value, says):
    node, _, leaf = field.rpartition(".")
    (smoke_cfg[node] if node else smoke_cfg)[leaf] = value
    with pytest.raises(config.ConfigError, match=says.replace("(", r"\(")):
        plan.validate(smoke_cfg)


def test_config_refuses_split_at_other_precisions_and_on_inexact_inputs(tmp_path):
    cfg = load_config("smoke")
    cfg.split = "bf16"
    cfg.matmul_precision = "default"
    with pytest.raises(config.ConfigError, match="needs config.matmul_precision highest or high"):
        plan.validate(cfg)
    cfg.matmul_precision = "highest"
    plan.validate(cfg)
    with pytest.raises(config.ConfigError, match="config.split='bf16' with data.preprocess='raw'.*exact in bfloat16"):
        study.run_all(cfg, tmp_path / "run", log=lambda *a: None)   # Gaussian inputs are not bf16 numbers


def _dataset(x):
    return data.Dataset(x, np.zeros(len(x), np.int32), x, np.zeros(len(x), np.int32), 10, info={})


@pytest.mark.parametrize("backend, inputs, want", [("cpu", "pixels", ("off", 0)), ("gpu", "pixels", ("fp16", 2)),
                                                  ("tpu", "pixels", ("bf16", 3)), ("gpu", "scaled", ("off", 0))])
def test_make_resolves_the_split_for_the_backend_and_the_inputs(smoke_cfg, backend, inputs, want):
    x = raw_pixels(8, 4) if inputs == "pixels" else raw_pixels(8, 4) / np.float32(255)
    p = plan.make(smoke_cfg, _dataset(x), backend=backend)
    assert (p.split, p.parts) == want


def test_a_split_xla_cannot_convert_to_here_is_refused_in_one_sentence(smoke_cfg, monkeypatch):
    from distnet.nn import split
    monkeypatch.setattr(split, "converts", lambda kind: kind != "fp16")     # a CPU without F16C (as at SSE4_2)
    smoke_cfg.split = "fp16"
    with pytest.raises(config.ConfigError) as e:
        plan.make(smoke_cfg, _dataset(raw_pixels(8, 4)))
    assert str(e.value) == ("config.split='fp16' runs the first layer in fp16 parts, but XLA cannot compile a "
                            "conversion to float16 on this CPU (no F16C, or XLA_FLAGS limits the instruction set); "
                            "use --config.split=off (or bf16)")
    smoke_cfg.split = "bf16"                                                  # bfloat16 converts everywhere
    assert plan.make(smoke_cfg, _dataset(raw_pixels(8, 4))).split == "bf16"


def test_the_float16_probe_says_what_compiling_a_conversion_does():
    from distnet.nn import split
    try:
        jax.jit(lambda x: x.astype(jax.numpy.float16))(np.ones(3, np.float32)).block_until_ready()
        compiles = True
    except jax.errors.JaxRuntimeError:
        compiles = False
    assert split.converts("fp16") == compiles and split.converts("bf16")


def test_plan_derives_chunks_checkpoints_and_recorded_epochs(smoke_cfg):
    smoke_cfg.epochs, smoke_cfg.checkpoint_every, smoke_cfg.chunk_epochs, smoke_cfg.eval_every = 20, 10, 5, 1
    p = plan.make(smoke_cfg, _dataset(raw_pixels(8, 4)), backend="cpu")
    assert p.variants == ("ReLU", "Abs2-Neg") and p.chunk == 5
    assert [e for e in range(0, 21, 5) if p.checkpoint_due(e)] == [0, 10, 20]
    np.testing.assert_array_equal(p.recorded_epochs(15), [11, 12, 13, 14, 15])
    assert p.resumable_from(10) and not p.resumable_from(7)
    smoke_cfg.eval_every, smoke_cfg.chunk_epochs = 2, 100
    p = plan.make(smoke_cfg, _dataset(raw_pixels(8, 4)), backend="cpu")
    assert p.chunk == 10
    np.testing.assert_array_equal(p.recorded_epochs(20), [12, 14, 16, 18, 20])


def test_study_config_builds_every_problem_with_its_truth():
    import importlib.util

    spec = importlib.util.spec_from_file_location("geometry_gaussians", ROOT / "configs" / "geometry_gaussians.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for dim in mod.DIMS:
        cfg = mod.get_config(str(dim))
        names = plan.validate(cfg)
        assert set(models.MAIN + models.OFFSETL2) <= set(names)
        ds = data.load(cfg.data)
        assert ds.dim == dim and ds.classes == cfg.data.classes and ds.truth["means"].shape == (ds.classes, dim)
    bad = mod.get_config("2")
    bad.data.spread = 0.5
    with pytest.raises(config.ConfigError, match="config.data.spread=0.5 must be a finite number >= 1"):
        plan.validate(bad)


@pytest.mark.parametrize("epochs,ckpt,ev,target,want", [
    (5000, 1000, 1, 100, 100), (200, 100, 1, 50, 50), (20, 10, 2, 100, 10), (21, 7, 7, 5, 7), (30, 12, 3, 100, 6)])
def test_chunk_length_is_the_largest_multiple_of_eval_every_dividing_epochs_and_checkpoints(epochs, ckpt, ev, target, want):
    got = plan.chunk_length(epochs, ckpt, ev, target)
    assert got == want and epochs % got == 0 and ckpt % got == 0 and got % ev == 0


@pytest.mark.parametrize("backend, precision, exact, want", [
    ("cpu", "highest", True, "off"), ("gpu", "highest", True, "fp16"), ("gpu", "high", True, "fp16"),
    ("tpu", "highest", True, "bf16"), ("gpu", "highest", False, "off"), ("gpu", "default", True, "off")])
def test_auto_split_is_off_on_cpu_and_on_inexact_inputs(backend, precision, exact, want):
    assert resolve_split("auto", precision, exact, backend) == want
    assert resolve_split("bf16", precision, exact, backend) == "bf16"
