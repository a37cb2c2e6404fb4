"""distnet.run.checkpoint: save and restore by epoch, the digest checked on every restore, one sentence for a
damaged checkpoint, and the OS error behind a failed write."""
import errno
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from distnet.run import checkpoint, files, folder

from helpers import SRC


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


# --- the digest saved with every checkpoint, checked on every restore -------------------------------------------

def _params(seed=0):
    rng = np.random.default_rng(seed)
    return {"hidden": {"kernel": jnp.asarray(rng.normal(size=(2, 16, 64)), jnp.float32),
                       "bias": jnp.asarray(rng.normal(size=(2, 64)), jnp.float32)}}


def test_the_digest_covers_values_names_and_dtypes():
    p = _params()
    assert checkpoint.digest(p) == checkpoint.digest(jax.tree.map(np.asarray, p))     # device or host: same
    flipped = {"hidden": {**p["hidden"], "bias": p["hidden"]["bias"].at[1, 3].add(1e-7)}}
    renamed = {"hidden": {"kernel": p["hidden"]["kernel"], "b": p["hidden"]["bias"]}}
    other_dtype = jax.tree.map(lambda a: np.asarray(a).astype(np.float16), p)   # numpy's cast: no XLA float16 needed
    assert len({checkpoint.digest(t) for t in (p, flipped, renamed, other_dtype)}) == 4


def test_the_digest_is_saved_inside_the_step_with_the_record(tmp_path):
    p = _params()
    checkpoint.save(tmp_path, 0, p, record={"metrics_sha256": "m"})
    assert checkpoint.recorded(tmp_path, 0) == {"params_sha256": checkpoint.digest(p), "metrics_sha256": "m"}
    assert "params_sha256" in (tmp_path / "checkpoints" / "0" / "_CHECKPOINT_METADATA").read_text()


def _array_file(vdir, step):
    """The largest file holding a checkpoint's array data (where bit rot in the params lands)."""
    return max((p for p in (vdir / "checkpoints" / str(step)).rglob("ocdbt.process_0/d/*")), key=lambda p: p.stat().st_size)


def test_a_flipped_byte_in_an_array_file_is_caught(tmp_path):
    """What bit rot or a bad copy does: Orbax restores the changed values without complaint; the digest does not."""
    checkpoint.save(tmp_path, 0, _params())
    f = _array_file(tmp_path, 0)
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0x40
    f.write_bytes(bytes(b))
    with pytest.raises(checkpoint.Damaged) as e:
        checkpoint.restore(tmp_path, 0)
    assert str(e.value).startswith(f"checkpoint {tmp_path / 'checkpoints' / '0'} is damaged (")
    assert str(e.value).endswith(checkpoint.RECOVER) and "\n" not in str(e.value)


def test_a_digest_that_does_not_match_the_params_is_caught(tmp_path):
    checkpoint.save(tmp_path, 0, _params(), record={"metrics_sha256": "m"})
    meta_file = tmp_path / "checkpoints" / "0" / "_CHECKPOINT_METADATA"
    meta_file.write_text(meta_file.read_text().replace(checkpoint.digest(_params()), checkpoint.digest(_params(1))))
    with pytest.raises(checkpoint.Damaged, match=r"is damaged \(its params hash to [0-9a-f]{16}\.\.\., saved as"):
        checkpoint.restore(tmp_path, 0)


@pytest.mark.parametrize("damage, kind", [
    (lambda d: _array_file(d, 0).write_bytes(_array_file(d, 0).read_bytes()[:_array_file(d, 0).stat().st_size // 2]),
     checkpoint.Damaged),
    (lambda d: (d / "checkpoints" / "0" / "default" / "_METADATA").unlink(), checkpoint.Damaged),
    (lambda d: (d / "checkpoints" / "0" / "default" / "manifest.ocdbt").unlink(), checkpoint.Damaged),
    (lambda d: (d / "checkpoints" / "0" / "_CHECKPOINT_METADATA").unlink(), checkpoint.Unverifiable),
    (lambda d: (d / "checkpoints" / "0" / "_CHECKPOINT_METADATA").write_text("{garbage"), checkpoint.Damaged),
])
def test_every_damaged_part_of_a_checkpoint_is_one_sentence_naming_it(tmp_path, damage, kind):
    checkpoint.save(tmp_path, 0, _params())
    damage(tmp_path)
    with pytest.raises(kind) as e:
        checkpoint.restore(tmp_path, 0)
    text = str(e.value)
    assert text.startswith(f"checkpoint {tmp_path / 'checkpoints' / '0'} ") and "\n" not in text and len(text) < 600


def test_a_permission_error_on_a_checkpoint_is_not_called_damage(tmp_path, monkeypatch):
    checkpoint.save(tmp_path, 0, _params())

    def denied(self, *a, **k):
        raise ValueError("PERMISSION_DENIED: Error opening file: Permission denied [os_error_code='13']")
    monkeypatch.setattr(ocp.CheckpointManager, "restore", denied)
    with pytest.raises(files.RunFileError) as e:
        checkpoint.restore(tmp_path, 0)
    assert not isinstance(e.value, checkpoint.Damaged) and e.value.permission
    assert str(e.value).startswith(f"permission denied reading checkpoint {tmp_path / 'checkpoints' / '0'};")


def test_discard_removes_steps_and_their_sidecars(tmp_path):
    for step in (0, 10, 20):
        checkpoint.save(tmp_path, step, _params(), {"wall_time_s": 1.0})
    checkpoint.discard(tmp_path, [10, 20])
    assert checkpoint.steps(tmp_path) == [0]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["0", "0.json"]


# --- a full disk or a file-size limit inside Orbax's write ---------------------------------------------------

FSIZE = r"""
import resource, sys
sys.path.insert(0, sys.argv[1])
import jax.numpy as jnp
from distnet.run import checkpoint
p = {"w": jnp.arange(2 * 64 * 64, dtype=jnp.float32).reshape(2, 64, 64)}
checkpoint.save(sys.argv[2], 0, p)
# big enough for Orbax's JSON metadata, too small for the array data TensorStore writes
resource.setrlimit(resource.RLIMIT_FSIZE, (10000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    checkpoint.save(sys.argv[2], 10, p)
except OSError as e:
    print("errno", e.errno, "file", e.filename, "cause", type(e.__cause__).__name__)
"""


def test_a_file_size_limit_inside_the_orbax_write_is_the_os_error_named_after_the_step(tmp_path):
    r = subprocess.run([sys.executable, "-c", FSIZE, str(SRC), str(tmp_path)], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert f"errno {errno.EFBIG} file {tmp_path / 'checkpoints' / '10'} cause ValueError" in r.stdout, r.stderr[-3000:]
    assert "Traceback" not in r.stderr           # Orbax's own error log with its traceback is not shown
    assert checkpoint.steps(tmp_path) == [0]     # the step cut short is not listed


def test_a_full_disk_inside_the_orbax_write_is_enospc(tmp_path, monkeypatch):
    def full(self, *a, **k):
        raise ValueError("OUT_OF_RANGE: Error writing: No space left on device [os_error_code='28']")
    monkeypatch.setattr(ocp.CheckpointManager, "save", full)
    with pytest.raises(OSError) as e:
        checkpoint.save(tmp_path, 10, _params())
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "checkpoints" / "10")
    assert files.os_error_text(e.value, tmp_path).startswith(f"the disk is full writing {tmp_path / 'checkpoints' / '10'};")
