"""distnet.config: the schema's own checks, the protocol record, and configs that load without JAX."""
from __future__ import annotations

import subprocess
import sys

import pytest

from distnet import config

from helpers import ROOT, SRC, load_config


@pytest.mark.parametrize("field, value, says", [
    ("epochs", 0, "config.epochs=0 must be a positive integer"), ("hidden", 0, "config.hidden=0 must be a positive integer"),
    ("seed_chunk", -1, "config.seed_chunk=-1 must be an integer >= 0"), ("lr", float("nan"), "config.lr=nan"),
    ("eval_every", 3, "config.eval_every=3 must divide config.epochs=20"),
    ("checkpoint_every", 7, "config.checkpoint_every=7 must divide config.epochs=20"),
    ("seed", -1, "config.seed=-1 must be an integer in 0.."), ("seed", True, "config.seed=True"),
    ("num_seeds", -1, "config.num_seeds=-1 must be a positive integer"), ("lr", 0.0, "config.lr=0.0 must be a finite"),
    ("lr", -1.0, "config.lr=-1.0 must be a finite"), ("lr", float("inf"), "config.lr=inf must be a finite"),
    ("chunk_epochs", 0, "config.chunk_epochs=0 must be a positive integer")])
def test_each_out_of_range_field_is_named_with_its_valid_range(smoke_cfg, field, value, says):
    smoke_cfg[field] = value
    with pytest.raises(config.ConfigError, match=says.replace(".", r"\.").replace("(", r"\(")):
        config.check(smoke_cfg)


def test_a_checkpoint_interval_past_the_end_is_allowed(smoke_cfg):
    smoke_cfg.checkpoint_every = 1000   # >= epochs: only epoch 0 and the end get checkpoints
    config.check(smoke_cfg)


@pytest.mark.parametrize("variants, says", [("", "config.variants is empty"), ("ReLU, ReLU", "lists a variant twice")])
def test_the_variant_list_is_non_empty_and_has_no_name_twice(smoke_cfg, variants, says):
    smoke_cfg.variants = variants
    with pytest.raises(config.ConfigError, match=says):
        config.variant_list(smoke_cfg)


def test_variant_list_strips_spaces(smoke_cfg):
    smoke_cfg.variants = " ReLU , Abs2-Neg,"
    assert config.variant_list(smoke_cfg) == ["ReLU", "Abs2-Neg"]


def test_diff_names_every_protocol_field_that_differs_including_nested_data_fields(smoke_cfg):
    saved = config.protocol(smoke_cfg)
    smoke_cfg.lr, smoke_cfg.data.n_train = 0.1, 50
    assert config.diff(saved, config.protocol(smoke_cfg)) == [
        "data.n_train (folder: 200, now: 50)", "lr (folder: 0.05, now: 0.1)"]
    smoke_cfg.chunk_epochs = 2      # not a protocol field: a different chunking is not a different experiment
    assert "chunk_epochs" not in config.protocol(smoke_cfg)


def test_config_files_load_without_importing_jax():
    """Every config file, those naming variant groups (distnet.nn.names) and taking an argument included."""
    code = ("import sys, pathlib; sys.path.insert(0, sys.argv[1]); import importlib.util as u\n"
            "for path in sorted(pathlib.Path(sys.argv[2], 'configs').glob('*.py')):\n"
            "    s = u.spec_from_file_location(path.stem, path); m = u.module_from_spec(s)\n"
            "    s.loader.exec_module(m); m.get_config()\n"
            "print('jax' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(SRC), str(ROOT)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_paper_configs_name_the_papers_variants():
    from distnet.nn import models
    assert config.variant_list(load_config("paper_table1")) == list(models.MAIN)
    assert config.variant_list(load_config("paper_bias")) == list(models.BIAS)
    assert config.variant_list(load_config("paper_offsetl2")) == list(models.OFFSETL2)
    assert config.variant_list(load_config("distance_heads")) == list(models.OFFSETL2 + models.HEADS)


@pytest.mark.parametrize("spec, says", [
    ("configs/geometry_gaussians.py:abc", "configs/geometry_gaussians.py takes the input dimension after ':', a "
                                          "positive integer such as 2, 10 or 100 (got 'abc')"),
    ("configs/geometry_gaussians.py:0", "(got '0')"),
    ("configs/smoke.py:3", "configs/smoke.py takes no argument after ':' (got '3'); give --config configs/smoke.py"),
    ("configs/nope.py", "cannot load the config file configs/nope.py (No such file or directory)"),
    ("broken.py", "cannot load the config file broken.py (invalid syntax, line 1)"),
    ("empty.py", "the config file empty.py defines no get_config()"),
    ("needs.py", "needs.py needs an argument, --config needs.py:ARG")])
def test_a_config_file_or_its_argument_that_cannot_give_a_config_is_one_sentence(spec, says, tmp_path, monkeypatch):
    for name, text in (("broken.py", "def get_config(:\n"), ("empty.py", "x = 1\n"),
                       ("needs.py", "def get_config(arg):\n    return arg\n")):
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(ROOT if spec.startswith("configs/") else tmp_path)
    with pytest.raises(config.ConfigError) as e:
        config.load_file(spec)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_a_config_file_takes_its_argument():
    cfg = config.load_file(f"{ROOT}/configs/geometry_gaussians.py:2")
    assert cfg.data.dim == 2 and cfg.data.separation == 1.0


@pytest.mark.parametrize("names, says", [
    (["lr", "epochz"], "unknown config field 'epochz' (did you mean 'epochs'?) on the command line"),
    (["data.n_trian"], "unknown config field 'data.n_trian' (did you mean 'data.n_train'?)"),
    (["learning_rate"], "unknown config field 'learning_rate' on the command line"),
    (["data.classes"], "set it in a config file")])
def test_a_command_line_field_the_config_lacks_is_named_with_the_closest_field(smoke_cfg, names, says):
    with pytest.raises(config.ConfigError) as e:
        config.check_overrides(smoke_cfg, names, absent={"data.classes": "set it in a config file"})
    assert says in str(e.value)


def test_every_field_and_nested_field_and_element_passes_the_override_check(smoke_cfg):
    config.check_overrides(smoke_cfg, [name for name, _, _ in config.fields()] + ["data", "lrs[0]"])
