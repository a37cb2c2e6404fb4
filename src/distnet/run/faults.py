"""Stopping safely: Ctrl-C / SIGTERM handling for the chunk loop, and a fault hook for the kill tests.

`stopping()` installs SIGINT/SIGTERM handlers that only raise a flag; the chunk loop checks `requested()`
after each chunk, saves a checkpoint and raises `Interrupted`. A second signal stops at once (every write
is atomic, so that is safe too, only the current chunk is lost).

`point(event)` is a no-op unless DISTNET_FAULT=after:<event>:<n>[:<SIGNAL>|FSIZE] is set, in which case the
n-th time this process reaches `event` it sends itself SIGKILL (or the named signal), or with FSIZE sets its
file-size limit to 0 so that every later write fails as on a full disk. Tests use it to kill a run at exact
moments, e.g. between writing metrics.npz.tmp and renaming it (`metrics_tmp_written`).
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading

ENV = "DISTNET_FAULT"
_counts: dict[str, int] = {}
_requested: list[int] = []     # signal numbers received since `stopping()` was entered


class Interrupted(Exception):
    """The run stopped on SIGINT/SIGTERM after saving a checkpoint; `signum` gives the exit code 128+signum."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


def point(event: str) -> None:
    """Fault-injection hook at a named moment of a run (see module docstring)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    _counts[event] = _counts.get(event, 0) + 1
    parts = spec.split(":")
    if len(parts) not in (3, 4) or parts[0] != "after" or not parts[2].isdigit():
        raise ValueError(f"{ENV}={spec!r}; expected after:<event>:<n>[:<SIGNAL>|FSIZE]")
    if parts[1] == event and int(parts[2]) == _counts[event]:
        if parts[3:] == ["FSIZE"]:      # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG
            import resource
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
            return
        os.kill(os.getpid(), getattr(signal, parts[3]) if len(parts) == 4 else signal.SIGKILL)


def requested() -> int:
    """The first stop signal received inside `stopping()` (0 if none)."""
    return _requested[0] if _requested else 0


def _handler(signum, frame) -> None:
    if _requested:                       # second signal: stop now
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _requested.append(signum)
    print(f"\n{signal.Signals(signum).name} received: stopping after this chunk and saving a checkpoint "
          f"(send it again to stop at once)", flush=True)


@contextlib.contextmanager
def stopping():
    """Within this block SIGINT/SIGTERM request a clean stop instead of killing the process."""
    _requested.clear()
    if threading.current_thread() is not threading.main_thread():   # signal handlers need the main thread
        yield
        return
    old = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        _requested.clear()
