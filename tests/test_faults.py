"""distnet.run.faults: a stop signal inside `stopping()` only raises a flag; the fault hook kills on the n-th
time a named point is reached and is a no-op otherwise."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys

import pytest

from distnet.run import faults

from helpers import SRC


def test_a_signal_inside_stopping_is_recorded_not_fatal():
    with faults.stopping():
        assert faults.requested() == 0
        os.kill(os.getpid(), signal.SIGTERM)
        assert faults.requested() == signal.SIGTERM
    assert faults.requested() == 0           # leaving the block clears it and restores the old handlers
    assert signal.getsignal(signal.SIGTERM) is not faults._handler


def test_point_is_a_no_op_without_the_environment_variable(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    for _ in range(3):
        faults.point("chunk_done")


def test_a_malformed_fault_spec_is_refused(monkeypatch):
    monkeypatch.setenv(faults.ENV, "kill-me-now")
    with pytest.raises(ValueError, match="expected after:<event>:<n>"):
        faults.point("chunk_done")


def test_point_kills_the_process_the_nth_time_the_event_is_reached():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from distnet.run import faults\n"
            "for i in range(5):\n    print(i, flush=True); faults.point('tick')")
    env = {**os.environ, faults.ENV: "after:tick:3:SIGTERM"}
    r = subprocess.run([sys.executable, "-c", code, str(SRC)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGTERM and r.stdout.split() == ["0", "1", "2"]


def test_fsize_makes_every_later_write_fail_as_on_a_full_disk(tmp_path):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from distnet.run import faults\n"
            "open(sys.argv[2], 'w').write('before')\nfaults.point('tick')\n"
            "try:\n    with open(sys.argv[2], 'w') as f:\n        f.write('after')\n"
            "except OSError as e:\n    print('errno', e.errno)")
    env = {**os.environ, faults.ENV: "after:tick:1:FSIZE"}
    r = subprocess.run([sys.executable, "-c", code, str(SRC), str(tmp_path / "f")], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["errno", str(errno.EFBIG)], r.stderr
