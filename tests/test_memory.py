"""distnet.run.memory: too many seeds at once is refused before anything is allocated, naming a seed_chunk that
fits; the cheap upper bound that lets most runs skip the exact check really bounds XLA's own analysis."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from distnet import config, data
from distnet.nn import models
from distnet.run import memory, trainer

from helpers import load_config


@pytest.fixture(scope="module")
def tiny():
    ds = data.gaussians(64, 32, dim=6, classes=3, seed=0)
    return ds, trainer.to_device(ds)


@pytest.mark.parametrize("variant", ["ReLU", "ReLU-L2", "ReLU-RBF", "ReLU-MD"])   # one per head kind
def test_the_upper_bound_is_above_xla_s_own_analysis_of_one_seed(tiny, variant):
    """Skipping the exact check is safe only if the bound never falls below the compiled program's needs."""
    _, dd = tiny
    model = models.get(variant, hidden=8, classes=3)
    exact = memory.seed_bytes(model, dd, 4, exact=True)
    bound = memory.seed_bytes(model, dd, 4, exact=False)
    assert 0 < exact <= bound, (exact, bound)


def _cfg(num_seeds, seed_chunk=0):
    cfg = load_config("smoke")
    cfg.variants, cfg.hidden, cfg.num_seeds, cfg.seed_chunk = "ReLU", 8, num_seeds, seed_chunk
    return cfg


def test_too_many_seeds_at_once_is_one_sentence_naming_a_seed_chunk_that_fits(tiny):
    ds, dd = tiny
    model = models.get("ReLU", hidden=8, classes=3)
    per_seed = memory.seed_bytes(model, dd, 4, exact=True)
    state = memory.STATE_COPIES * models.params_bytes(model, ds.dim)
    available = int((5000 * state + 100 * per_seed) / memory.USABLE)   # room for 5,000 seeds' params, 100 at once
    with pytest.raises(config.ConfigError) as e:
        memory.check(_cfg(5000), ["ReLU"], 3, dd, 4, available=available)
    text = str(e.value)
    assert "\n" not in text and text.startswith("ReLU would train 5000 seeds at once, needing about ")
    fits = int(text.split("config.seed_chunk=")[1].split()[0])
    assert text.endswith(f"set config.seed_chunk={fits} (or less) to train them that many at a time")
    assert 99 <= fits <= 100           # rounding of the budget only
    memory.check(_cfg(5000, fits), ["ReLU"], 3, dd, 4, available=available)       # the suggestion passes
    with pytest.raises(config.ConfigError):
        memory.check(_cfg(5000, fits + 2), ["ReLU"], 3, dd, 4, available=available)


def test_parameters_that_alone_do_not_fit_ask_for_fewer_seeds(tiny):
    ds, dd = tiny
    with pytest.raises(config.ConfigError) as e:
        memory.check(_cfg(5000, 1), ["ReLU"], 3, dd, 4, available=2 ** 20)
    assert str(e.value).startswith("config.num_seeds=5000: the parameters of ReLU's 5000 lanes alone need about ")


def test_a_width_that_does_not_fit_even_one_seed_asks_for_a_smaller_hidden(tiny):
    """Fewer seeds cannot help then (it used to suggest num_seeds=1 to a run of one seed)."""
    _, dd = tiny
    with pytest.raises(config.ConfigError, match="^one seed of ReLU at config.hidden=8 needs about .*; reduce "
                                                 "config.hidden"):
        memory.check(_cfg(1), ["ReLU"], 3, dd, 4, available=2 ** 10)


def test_a_run_that_fits_compiles_nothing_and_passes(tiny, monkeypatch):
    _, dd = tiny
    monkeypatch.setattr(memory.trainer, "make_train", lambda *a, **k: pytest.fail("compiled for a run that fits"))
    memory.check(_cfg(3), ["ReLU"], 3, dd, 4, available=2 ** 33)


def test_the_address_space_limit_counts_as_available_memory():
    """ulimit -v: what the process may still map, which JAX's allocations run into first (3 GiB: below this
    machine's free memory, above what importing JAX maps, about 1.5 GiB)."""
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 2 ** 30, resource.RLIM_INFINITY)); "
            "from distnet.run import memory; print(memory.available_bytes())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 0 < int(out.stdout) < 3 * 2 ** 30
