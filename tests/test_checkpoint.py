import jax.numpy as jnp
import numpy as np
import pytest

from distnet.run import checkpoint, folder


def test_save_restore_roundtrip_and_latest(tmp_path):
    p = {"hidden": {"kernel": jnp.arange(24.0).reshape(2, 3, 4), "bias": jnp.ones((2, 4))}}
    checkpoint.save(tmp_path, 0, p, {"wall_time_s": 0.0})
    checkpoint.save(tmp_path, 10, {"hidden": {k: v + 1 for k, v in p["hidden"].items()}})
    assert checkpoint.steps(tmp_path) == [0, 10]
    np.testing.assert_array_equal(checkpoint.restore(tmp_path, 0)["hidden"]["kernel"], p["hidden"]["kernel"])
    np.testing.assert_array_equal(checkpoint.restore(tmp_path)["hidden"]["bias"], 2.0)
    assert folder.read_json(tmp_path / "checkpoints" / "0.json") == {"step": 0, "wall_time_s": 0.0}
    with pytest.raises(FileNotFoundError, match="available: \\[0, 10\\]"):
        checkpoint.restore(tmp_path, 5)


def test_restore_without_checkpoints_says_so(tmp_path):
    assert checkpoint.steps(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="no checkpoints"):
        checkpoint.restore(tmp_path)


def test_a_lost_sidecar_is_rewritten_when_the_step_exists(tmp_path):
    p = {"hidden": {"kernel": jnp.ones((2, 3, 4))}}
    checkpoint.save(tmp_path, 5, p, {"wall_time_s": 1.0})
    (tmp_path / "checkpoints" / "5.json").unlink()        # a kill between the Orbax step and its sidecar
    checkpoint.save(tmp_path, 5, p, {"wall_time_s": 2.0})
    assert checkpoint.meta(tmp_path, 5) == {"step": 5, "wall_time_s": 2.0}
    checkpoint.save(tmp_path, 5, p, {"wall_time_s": 3.0})   # present: kept as it is
    assert checkpoint.meta(tmp_path, 5)["wall_time_s"] == 2.0
