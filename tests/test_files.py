"""distnet.run.files: strict JSON and atomic writes."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from distnet.run import files

from helpers import strict_json


def test_non_finite_numbers_are_written_as_null(tmp_path):
    obj = {"a": float("nan"), "b": np.array([1.0, np.inf]), "c": np.float32("nan"), "d": [1, {"e": -np.inf}],
           "f": jnp.array([[np.nan, 2.0]]), "g": np.int64(3), "h": (True, "x")}
    files.write_json(tmp_path / "x.json", obj)
    got = strict_json((tmp_path / "x.json").read_text())
    assert got == {"a": None, "b": [1.0, None], "c": None, "d": [1, {"e": None}], "f": [[None, 2.0]], "g": 3,
                   "h": [True, "x"]}
