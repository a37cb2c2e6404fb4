"""README.md: every ```python block runs pasted alone into a fresh interpreter (its own process, the venv's python,
a temporary working folder holding runs/smoke, a real smoke run) and prints what its comments say.

A block that uses a name only an earlier block defines fails here with the NameError a reader would get. The block
that writes scikit-learn's wine data as an npz file runs where scikit-learn is installed (not a distnet dependency)
and is skipped, saying so, elsewhere."""
from __future__ import annotations

import importlib.util
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, SRC

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)

# Each block, by a piece of code that identifies it: the values (expressions in its namespace) to bring back from its
# process and check
CHECKS = {"fit.fit(": {"final": "result.metrics['test_acc'][:, -1]", "logits_SxNxC": "logits_SxNxC",
                       "logits_NxC": "logits_NxC"},
          "fit.load(": {},
          "trainer.make_train(": {"kernel_S": "params_S['hidden']['kernel']", "logits": "logits"},
          "load_wine(": {}}

# Run after the block, in the same process, only to bring its variables back (never reached when the block fails)
EPILOGUE = """
import jax as _jax, pickle as _pickle
with open({out!r}, "wb") as _f:
    _pickle.dump({{_k: _jax.device_get(eval(_v)) for _k, _v in {values!r}.items()}}, _f)
"""


def run_block(source: str, cwd, values=None) -> tuple[subprocess.CompletedProcess, dict]:
    """`source` fed to a fresh `python -` in cwd, as a paste; returns the process and `values` evaluated after it."""
    out = cwd / "block_vars.pkl"
    path = os.pathsep.join([str(SRC)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    env = {**os.environ, "PYTHONPATH": path, "JAX_PLATFORMS": "cpu"}    # DISTNET_DATA_DIR and the XLA cache pass on
    r = subprocess.run([sys.executable, "-"], input=source + EPILOGUE.format(out=str(out), values=dict(values or {})),
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return r, (pickle.loads(out.read_bytes()) if r.returncode == 0 else {})


def printed_claims(source: str) -> list[str]:
    """The shape each `print(...)  # (a, b): ...` line of a block says it prints, in order; None where it says no
    shape."""
    claims = []
    for line in source.splitlines():
        if line.startswith("print("):
            m = re.search(r"#\s*(\(\d+(?:, \d+)*\))", line)
            claims.append(m.group(1) if m else None)
    return claims


def test_the_readme_has_python_snippets_and_each_is_checked():
    assert len(BLOCKS) >= 3
    for key in CHECKS:
        assert sum(key in b for b in BLOCKS) == 1, key
    assert all(any(key in b for key in CHECKS) for b in BLOCKS), "a README block without an entry in CHECKS"


def test_a_block_that_needs_an_earlier_one_fails_alone(tmp_path):
    r, _ = run_block("import json\nprint(np.zeros(3).shape)   # (3,)\n", tmp_path)   # np from some earlier block
    assert r.returncode != 0 and "NameError: name 'np' is not defined" in r.stderr


@pytest.mark.parametrize("i", range(len(BLOCKS)), ids=lambda i: f"block{i + 1}")
def test_each_readme_python_block_runs_alone_and_prints_what_its_comments_say(i, request, tmp_path):
    block = BLOCKS[i]
    if "runs/smoke" in block:
        (tmp_path / "runs").mkdir()
        (tmp_path / "runs" / "smoke").symlink_to(request.getfixturevalue("smoke_run"))
    if "from sklearn" in block and importlib.util.find_spec("sklearn") is None:
        pytest.skip("this block needs scikit-learn, which distnet does not install")
    values = next(v for k, v in CHECKS.items() if k in block)
    r, got = run_block(block, tmp_path, values)
    assert r.returncode == 0, f"README.md python block {i + 1} fails pasted alone:\n{r.stderr[-3000:]}"
    printed, claims = r.stdout.splitlines(), printed_claims(block)
    assert len(printed) == len(claims), r.stdout
    assert [p for p, c in zip(printed, claims) if c] == [c for c in claims if c]

    if "fit.fit(" in block:
        final = got["final"]
        assert final.shape == (4,) and final.min() > 0.8   # three classes 4 std apart: 0.95-0.975 measured, chance 1/3
        assert [float(v) for v in printed[1].strip("[]").split()] == pytest.approx(final, abs=1e-6)   # printed rounded
        assert got["logits_SxNxC"].shape == (4, 200, 3) and got["logits_NxC"].shape == (200, 3)
        # one seed alone vs inside the vmapped batch: the same sums, maybe in another order, of 20 + 128 float32
        # products: relative error below (20 + 128) * 2^-24 ~ 1e-5 of the largest logit
        np.testing.assert_allclose(got["logits_NxC"], got["logits_SxNxC"][0],
                                   atol=1e-5 * np.abs(got["logits_SxNxC"]).max())
    if "load_wine(" in block:     # the file it writes is one data.name=npz takes
        from distnet import config, data
        dcfg = config.base().data
        dcfg.name, dcfg.path = "npz", str(tmp_path / "wine.npz")
        ds = data.load(dcfg)
        assert ds.classes == 3 and ds.x_train.shape == (133, 13) and np.bincount(ds.y_test).tolist() == [15, 18, 12]
    if "trainer.make_train(" in block:
        assert got["kernel_S"].shape == (4, 784, 128)
        assert got["logits"].shape == (5, 10)
