"""Comparing run folders bit for bit (imported by the fault tests and their conftest)."""
from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

VARIANTS = ("ReLU", "Abs2-Neg")            # those of configs/smoke.py
SMOKE = ("--config", "configs/smoke.py")


def assert_same_run(a: Path, b: Path, variants=VARIANTS) -> None:
    """Every metrics array and every checkpointed param leaf of `a` equals `b`'s exactly."""
    from distnet.run import checkpoint, folder

    for v in variants:
        ma, mb = folder.load_metrics(a / v), folder.load_metrics(b / v)
        assert sorted(ma) == sorted(mb)
        for k in ma:
            assert np.array_equal(ma[k], mb[k]), f"{v}: metrics {k} differ"
        assert checkpoint.steps(a / v)[-1] == checkpoint.steps(b / v)[-1]
        pa, pb = checkpoint.restore(a / v), checkpoint.restore(b / v)
        assert jax.tree_util.tree_structure(pa) == jax.tree_util.tree_structure(pb)
        for x, y in zip(jax.tree_util.tree_leaves(pa), jax.tree_util.tree_leaves(pb), strict=True):
            assert np.array_equal(np.asarray(x), np.asarray(y)), f"{v}: params differ"
        sa, sb = folder.read_json(a / v / "summary.json"), folder.read_json(b / v / "summary.json")
        assert (sa["status"], sa["final_test_acc"]) == (sb["status"], sb["final_test_acc"])
    rows = folder.read_json(a / "summary.json")["variants"]
    assert [r["variant"] for r in rows] == list(variants)
    assert not list(a.rglob("*.tmp")) and not list(a.rglob("*orbax-checkpoint-tmp*"))
