"""The primitives every file of a run folder is written and read with: atomic writes, strict JSON, one-sentence
errors for a file that is missing, damaged or unreadable, the folder's lock, and swapping a folder in whole.

A file is written to `<name>.tmp`, fsynced and renamed over `<name>`, so a reader (or a resumed run) never sees
half a file; in a multi-process run only process 0 writes.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import re
import shutil
import socket
import stat
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

from distnet.run import faults, hosts

PERMISSION = (errno.EACCES, errno.EPERM)
NO_SPACE = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
            errno.EFBIG: "a file reached the file-size limit (ulimit -f)"}


class RunFileError(Exception):
    """A run-folder file that is missing, damaged or unreadable: one sentence, `what` is wrong then the fix.
    `permission` is True when the file may be fine but this user may not read it (never called damage)."""

    def __init__(self, what: str, fix: str = "", permission: bool = False):
        super().__init__(f"{what}; {fix}" if fix else what)
        self.what, self.fix, self.permission = what, fix, permission


def os_errno(e: BaseException) -> int | None:
    """The OS error number behind `e`: its own errno, one in its cause chain, or the `os_error_code` that
    TensorStore (Orbax's storage) writes into its messages; None when there is none."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno:
            return e.errno
        m = re.search(r"os_error_code='?(\d+)", str(e))
        if m:
            return int(m[1])
        e = e.__cause__ or e.__context__
    return None


def unreadable(path, e: BaseException, fix: str, name: str | None = None) -> RunFileError:
    """The RunFileError for reading `path` (called `name` in the message) failing with `e`: permission denied,
    missing, or damaged (then `fix` says what to do)."""
    name = name or str(path)
    if os_errno(e) in PERMISSION:
        return RunFileError(f"permission denied reading {name}", "give this user read access to it (chmod/chown) "
                            "and rerun", permission=True)
    if isinstance(e, FileNotFoundError):
        return RunFileError(f"{name} is missing", fix)
    reason = str(e).splitlines()[0] if str(e) else ""
    # a library's pointer to more detail ("See full TensorStore details: <bound method ...>") is no reason
    reason = re.split(r"\s*(?:See full|<bound method|<built-in)", reason)[0].rstrip(" .:")[:200]
    return RunFileError(f"{name} is damaged ({type(e).__name__}{': ' + reason if reason else ''})", fix)


def os_error_text(e: BaseException, where, then: str = "rerun") -> str | None:
    """One sentence for an OSError a user can fix (permission denied, disk full, a file-size limit, a read-only
    file system), naming the file; None for any other error."""
    code, name = os_errno(e), getattr(e, "filename", None) or where
    if code in PERMISSION:
        return f"permission denied on {name}; give this user access to it (chmod/chown) and {then}"
    if code in NO_SPACE:
        return f"{NO_SPACE[code]} writing {name}; free some space (or raise the limit) and {then}"
    if code == errno.EROFS:
        return f"{name} is on a read-only file system; choose a writable folder and {then}"
    return None


def error_text(e: Exception, where="the run folder") -> str:
    """One line for a CLI's "error: ..." from what reading or writing a run folder can raise."""
    if isinstance(e, KeyError):
        return f"a run file lacks the field {e}; was it written by another version of distnet?"
    if isinstance(e, OSError) and (text := os_error_text(e, where)):
        return text
    if isinstance(e, (OSError, zipfile.BadZipFile)):
        return f"{e} (a run file is missing, damaged or unreadable)"
    return str(e)


def read_json(path, fix: str = "restore it from a copy", keys: tuple[str, ...] = ()) -> dict:
    """A JSON object from `path` holding at least `keys` (RunFileError naming the file and `fix` otherwise)."""
    try:
        obj = json.loads(read_bytes(path))
    except (OSError, ValueError, RecursionError) as e:    # ValueError: not UTF-8 or not JSON; Recursion: nested
        raise unreadable(path, e, fix) from e
    if not isinstance(obj, dict):
        raise RunFileError(f"{path} is damaged (it holds a JSON {type(obj).__name__}, not an object)", fix)
    missing = [k for k in keys if k not in obj]
    if missing:
        raise RunFileError(f"{path} lacks the field(s) {', '.join(missing)} (damaged, or written by another "
                           f"version of distnet)", fix)
    return obj


def read_npz(path, fix: str = "restore it from a copy") -> dict:
    """Every array of the .npz file `path`, never unpickled (RunFileError naming the file and `fix` when it is not
    a readable .npz archive)."""
    try:
        _regular(path)      # a FIFO would block the open below
        with open(path, "rb") as f:
            if not zipfile.is_zipfile(f):     # np.load would try it as a pickle
                raise zipfile.BadZipFile("not a .npz archive")
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise unreadable(path, e, fix) from e


def read_bytes(path) -> bytes:
    """The bytes of the regular file `path`: a FIFO, device or folder in its place is an error (OSError), never
    waited on."""
    _regular(path)
    return Path(path).read_bytes()


def _regular(path) -> None:
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(errno.EINVAL, "not a regular file", str(path))


def create(path) -> int:
    """A new file `path` opened for writing, created here: a stale one (a killed writer's, or a planted link) is
    removed first, never followed or written through."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)


def atomic_write(path, write) -> None:
    """Call write(f) on a fresh `<path>.tmp` (created exclusively: see `create`), fsync it and rename it over
    `path` (process 0 only; a link at `path` is replaced, never written through)."""
    if not hosts.primary():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(create(tmp), "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    faults.point(f"{path.name}_tmp_written")
    os.replace(tmp, path)


def remove_tmp(folder) -> None:
    """Delete temporary files a killed writer left behind (never read; removed only to keep folders tidy)."""
    if not hosts.primary():
        return
    for p in Path(folder).glob("*.tmp"):
        p.unlink(missing_ok=True)


def plain(o):
    """JSON-ready copy of `o`: numpy and JAX arrays and scalars become lists and numbers, and every NaN or
    Inf becomes None (null), because bare NaN is not JSON and most parsers other than Python's reject it."""
    if isinstance(o, dict):
        return {k: plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [plain(v) for v in o]
    if hasattr(o, "__array__") and not isinstance(o, (str, bytes)):
        o = np.asarray(o)
        return plain(o.tolist()) if o.ndim else plain(o.item())
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def write_json(path, obj) -> None:
    """Atomically write `obj` as strict JSON (non-finite numbers as null, see `plain`)."""
    atomic_write(path, lambda f: f.write(json.dumps(plain(obj), indent=1, allow_nan=False).encode()))


def write_text(path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


# --- one writer per folder ----------------------------------------------------------------------------------

class Busy(Exception):
    """Another process holds the folder's lock; the message names it."""


@contextlib.contextmanager
def lock(path, who: str, hint: str = "wait for it to finish (or stop it), then rerun"):
    """Hold an exclusive OS lock (flock) on the file `path` for the block, or raise Busy naming the holder.

    The kernel drops the lock when the process dies, however it dies (SIGKILL included), so a crash never
    leaves a stale lock behind; the file itself stays (deleting it would let two processes lock two files). A link
    or anything but a plain file in its place is refused, never followed (RunFileError)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a plain file")
    except OSError as e:
        if e.errno not in (errno.ELOOP, errno.EISDIR, errno.EINVAL, errno.ENXIO):
            raise
        raise RunFileError(f"the lock file {path} is a link or not a plain file", "delete it (it holds only the "
                           "name of its last holder) and rerun") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            raise Busy(f"{path.parent} is in use by {holder}; {hint}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{who} (pid {os.getpid()} on {socket.gethostname()}, since "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')})\n".encode(), 0)
        yield
    finally:
        os.close(fd)      # releases the lock


# --- a folder replaced whole ----------------------------------------------------------------------------------

@contextlib.contextmanager
def replace_folder(link):
    """Yield a fresh hidden sibling folder to fill; when the block ends without error, `link` (a symlink) is
    pointed at it in one atomic rename and the folder it pointed at before is deleted. A reader of `link` sees
    the old set of files or the new one, never a mix, whenever the writer is killed; leftovers of a killed
    writer are deleted by the next one. On an error the new folder is deleted and `link` is left alone."""
    link = Path(link)
    if link.exists() and not link.is_symlink():
        raise RunFileError(f"{link} is not the link distnet writes there", "move it away and rerun")
    new = link.with_name(f".{link.name}-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9:09d}-{os.getpid()}")
    new.mkdir(parents=True)
    try:
        yield new
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    tmp = link.with_name(f".{link.name}-link-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(new.name, tmp)
    faults.point(f"{link.name}_link_made")
    os.replace(tmp, link)
    for old in link.parent.glob(f".{link.name}-*"):
        if old.name != new.name:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() and not old.is_symlink() else old.unlink()


def readable_console() -> None:
    """Print what the console's encoding cannot show as backslash escapes (a run folder named in another script
    under PYTHONIOENCODING=ascii) instead of failing on the first line that names it; for the command lines."""
    import sys
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _orphaned(u) -> bool:
    """An unraisable exception of an asynchronous reader that outlived its event loop (Orbax, after a damaged
    checkpoint was named): a callback on a closed loop, or an abandoned coroutine."""
    import inspect
    return ((isinstance(u.exc_value, RuntimeError) and str(u.exc_value) == "Event loop is closed")
            or inspect.iscoroutine(u.object))


def quiet_orphans() -> None:
    """For the command lines: after one sentence has named a damaged checkpoint, Orbax's abandoned restore can still
    print "Exception ignored in ..." with a long trace at exit. Those (and only those) are dropped."""
    import sys
    default = sys.unraisablehook

    def hook(u):
        if not _orphaned(u):
            default(u)
    sys.unraisablehook = hook
