"""README.md: every ```python block runs as written, in order, sharing one namespace (as a reader pastes them
into one session), against a real smoke run folder at runs/smoke."""
from __future__ import annotations

import contextlib
import io
import os
import re

import numpy as np

from helpers import ROOT

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_has_python_snippets():
    assert len(BLOCKS) >= 3


def test_every_readme_python_snippet_runs_and_prints_what_its_comments_say(smoke_run, tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "smoke").symlink_to(smoke_run)
    namespace, out = {"__name__": "readme"}, io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for i, block in enumerate(BLOCKS):
            with contextlib.redirect_stdout(out):
                exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    finally:
        os.chdir(cwd)
    printed = out.getvalue().splitlines()
    assert printed[0] == "(4, 101)" and printed[-1] == "(2, 5, 10)"
    final = [float(v) for v in printed[1].strip("[]").split()]
    assert len(final) == 4 and min(final) > 0.8   # three classes 4 std apart: 0.95-0.975 measured, chance is 1/3
    assert namespace["logits_SxNxC"].shape == (4, 200, 3) and namespace["logits_NxC"].shape == (200, 3)
    # one seed alone vs inside the vmapped batch: the same sums, maybe in another order, of 20 + 128 float32
    # products: relative error below (20 + 128) * 2^-24 ~ 1e-5 of the largest logit
    np.testing.assert_allclose(namespace["logits_NxC"], namespace["logits_SxNxC"][0],
                               atol=1e-5 * np.abs(namespace["logits_SxNxC"]).max())
    assert namespace["params_S"]["hidden"]["kernel"].shape == (4, 784, 128)
