"""distnet.run.files: strict JSON, atomic writes, one-sentence errors for unreadable files, the folder lock, and
a folder replaced whole."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from distnet.run import files

from helpers import SRC, strict_json


def test_non_finite_numbers_are_written_as_null(tmp_path):
    obj = {"a": float("nan"), "b": np.array([1.0, np.inf]), "c": np.float32("nan"), "d": [1, {"e": -np.inf}],
           "f": jnp.array([[np.nan, 2.0]]), "g": np.int64(3), "h": (True, "x")}
    files.write_json(tmp_path / "x.json", obj)
    got = strict_json((tmp_path / "x.json").read_text())
    assert got == {"a": None, "b": [1.0, None], "c": None, "d": [1, {"e": None}], "f": [[None, 2.0]], "g": 3,
                   "h": [True, "x"]}


# --- reading: one sentence naming the file, the fix, and never "damaged" for a permission problem ----------------

@pytest.mark.parametrize("content, says", [(b"{not json", "is damaged (JSONDecodeError: Expecting property name"),
                                           (b"[]", "is damaged (it holds a JSON list, not an object)"),
                                           (b'{"a": "\xc3\x28"}', "is damaged (UnicodeDecodeError"),
                                           (b'{"a": 1}', "lacks the field(s) b (damaged, or written by another")])
def test_a_damaged_json_file_is_named_with_the_fix(tmp_path, content, says):
    (tmp_path / "x.json").write_bytes(content)
    with pytest.raises(files.RunFileError) as e:
        files.read_json(tmp_path / "x.json", fix="do the fix", keys=("a", "b"))
    assert str(e.value).startswith(f"{tmp_path / 'x.json'} ") and says in str(e.value)
    assert str(e.value).endswith("; do the fix") and "\n" not in str(e.value) and not e.value.permission


def test_a_missing_or_unreadable_file_is_not_called_damaged(tmp_path, monkeypatch):
    with pytest.raises(files.RunFileError, match=r"x.json is missing; do the fix$"):
        files.read_json(tmp_path / "x.json", fix="do the fix")
    (tmp_path / "x.json").write_text("{}")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(files.RunFileError) as e:
        files.read_json(tmp_path / "x.json", fix="do the fix")
    assert e.value.permission and str(e.value).startswith(f"permission denied reading {tmp_path / 'x.json'}; give")
    assert "damaged" not in str(e.value) and "do the fix" not in str(e.value)


def test_os_errors_are_found_behind_wrappers_and_tensorstore_messages():
    assert files.os_errno(ValueError("OUT_OF_RANGE: Failed to write: File too large [os_error_code='27']")) == 27
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as e:
        assert files.os_errno(e) == errno.ENOSPC
    assert files.os_errno(ValueError("plain")) is None
    assert files.os_error_text(OSError(errno.ENOSPC, "x", "/w/a"), "/w").startswith("the disk is full writing /w/a;")
    assert files.os_error_text(OSError(errno.EFBIG, "x"), "/w").startswith("a file reached the file-size limit")
    assert files.os_error_text(OSError(errno.EACCES, "x", "/w/a"), "/w").startswith("permission denied on /w/a;")
    assert files.os_error_text(OSError(errno.EIO, "x"), "/w") is None


# --- the lock ---------------------------------------------------------------------------------------------------

def test_a_held_lock_refuses_a_second_holder_by_name_and_frees_on_exit(tmp_path):
    with files.lock(tmp_path / "lock", "first writer"):
        with pytest.raises(files.Busy) as e:
            with files.lock(tmp_path / "lock", "second writer", hint="wait"):
                pass
        assert str(e.value).startswith(f"{tmp_path} is in use by first writer (pid {os.getpid()} on ")
        assert str(e.value).endswith("; wait")
    with files.lock(tmp_path / "lock", "second writer"):     # released when the block ended
        assert "second writer" in (tmp_path / "lock").read_text()


def test_the_lock_dies_with_its_process_even_on_sigkill(tmp_path):
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from distnet.run import files\n"
            "with files.lock(sys.argv[2], 'child'):\n    print('locked', flush=True); time.sleep(600)")
    p = subprocess.Popen([sys.executable, "-c", code, str(SRC), str(tmp_path / "lock")], stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        with pytest.raises(files.Busy, match=r"in use by child \(pid"):
            with files.lock(tmp_path / "lock", "parent"):
                pass
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
    with files.lock(tmp_path / "lock", "parent"):           # no stale lock outlives the killed holder
        pass


# --- a folder replaced whole --------------------------------------------------------------------------------------

def _fill(folder, text):
    files.write_text(folder / "a.txt", text)
    files.write_text(folder / "sub" / "b.txt", text)


def test_replace_folder_swaps_the_whole_set_or_nothing(tmp_path):
    link = tmp_path / "out"
    with files.replace_folder(link) as into:
        _fill(into, "one")
    first = os.readlink(link)
    assert (link / "a.txt").read_text() == (link / "sub" / "b.txt").read_text() == "one"
    with pytest.raises(RuntimeError):
        with files.replace_folder(link) as into:
            files.write_text(into / "a.txt", "two")
            raise RuntimeError("killed midway")
    assert os.readlink(link) == first and (link / "a.txt").read_text() == "one"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [first]   # the new one is gone
    (tmp_path / ".out-left-by-a-killed-writer").mkdir()
    with files.replace_folder(link) as into:
        _fill(into, "three")
    assert (link / "sub" / "b.txt").read_text() == "three"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", os.readlink(link)])


def test_replace_folder_refuses_to_replace_a_real_folder(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(files.RunFileError, match="out is not the link distnet writes there; move it away"):
        with files.replace_folder(tmp_path / "out"):
            pass


def test_a_library_pointer_to_more_detail_is_no_reason(tmp_path):
    """A half-truncated Orbax file fails in TensorStore with a message that ends in a pybind repr; the one
    sentence keeps the reason and drops the pointer."""
    e = Exception("Encountered error while reading array index: (slice(0, 2, 1),). See full TensorStore details: "
                  "<bound method pybind11_detail_function_record_v1_system_libstdcpp_gxx_abi_1xxx of <object>>")
    err = files.unreadable(tmp_path / "x", e, "rerun")
    assert err.what == f"{tmp_path / 'x'} is damaged (Exception: Encountered error while reading array index: " \
                       f"(slice(0, 2, 1),))"


def test_the_command_lines_drop_only_an_abandoned_readers_unraisable_exceptions(monkeypatch):
    """Orbax can leave a callback on a closed event loop (or an un-awaited coroutine) after a damaged checkpoint
    was named; the command lines drop those, and pass every other unraisable exception on."""
    import sys
    import types

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    files.quiet_orphans()

    async def reader():
        pass

    coro = reader()
    for exc, obj in ((RuntimeError("Event loop is closed"), None), (ValueError("x"), coro),
                     (RuntimeError("something else"), None), (OSError("disk"), "a file")):
        sys.unraisablehook(types.SimpleNamespace(exc_value=exc, object=obj))
    coro.close()
    assert [str(u.exc_value) for u in seen] == ["something else", "disk"]
