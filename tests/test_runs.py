"""distnet.runs: strict JSON (no bare NaN) and tables that survive a diverged variant."""
from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np

from distnet import runs


def _strict(text):
    def refuse(name):
        raise ValueError(f"bare {name} in JSON")
    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_are_written_as_null(tmp_path):
    obj = {"a": float("nan"), "b": np.array([1.0, np.inf]), "c": np.float32("nan"), "d": [1, {"e": -np.inf}],
           "f": jnp.array([[np.nan, 2.0]]), "g": np.int64(3), "h": (True, "x")}
    runs.write_json(tmp_path / "x.json", obj)
    got = _strict((tmp_path / "x.json").read_text())
    assert got == {"a": None, "b": [1.0, None], "c": None, "d": [1, {"e": None}], "f": [[None, 2.0]], "g": 3,
                   "h": [True, "x"]}


def test_a_diverged_summary_round_trips_and_tabulates(tmp_path):
    metrics = {"epoch": np.array([0, 10]), "test_acc": np.array([[0.1, np.nan], [0.1, 0.9]]),
               "train_acc": np.array([[0.1, np.nan], [0.1, 0.95]]), "train_loss": np.array([[2.0, np.nan], [2.0, 0.1]])}
    summary = {**runs.variant_summary("ReLU", metrics, 1.0), "status": "diverged"}
    runs.write_json(tmp_path / "summary.json", summary)
    back = _strict((tmp_path / "summary.json").read_text())
    assert back["final_test_acc"] == [None, 0.9] and back["test_acc"]["mean"] is None
    table = runs.summary_table([back])
    assert "| ReLU | diverged |" in table and "n/a +/- n/a" in table


def test_error_text_names_a_missing_field():
    assert "lacks the field 'epochs'" in runs.error_text(KeyError("epochs"))
