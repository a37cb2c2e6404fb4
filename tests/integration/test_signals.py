"""SIGTERM and SIGINT (Ctrl-C) stop a run after saving a checkpoint at the current epoch, say how to resume, exit
143 / 130; rerunning the same command then finishes with the uninterrupted run's exact numbers."""
from __future__ import annotations

import signal
import time

from distnet.run import checkpoint, folder

from runcheck import assert_same_run


def test_sigterm_then_sigint_then_resume(cli, reference, tmp_path):
    w = tmp_path / "run"
    relu = w / "ReLU"
    # the process signals itself right after chunk 1 (epoch 5, not a checkpoint_every boundary)
    r = cli(w, fault="after:chunk_done:1:SIGTERM")
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    assert "interrupted at epoch 5 of ReLU; rerun the same command to resume" in r.stderr
    assert "Traceback" not in r.stderr
    assert checkpoint.steps(relu) == [0, 5] and checkpoint.meta(relu, 5)["step"] == 5
    assert not folder.is_complete(relu)

    r = cli(w, fault="after:chunk_done:2:SIGINT")      # resumes at 5; chunk 2 ends at epoch 15
    assert "resuming from the checkpoint at epoch 5" in r.stdout
    assert r.returncode == 128 + signal.SIGINT, r.stderr
    assert "interrupted at epoch 15 of ReLU" in r.stderr and checkpoint.steps(relu) == [0, 5, 10, 15]

    r = cli(w)
    assert r.returncode == 0, r.stderr
    assert_same_run(w, reference)


def test_sigint_from_outside_stops_with_a_checkpoint_and_exit_130(cli, tmp_path):
    """A Ctrl-C from another process while training runs: stops with a checkpoint and a resume hint."""
    w = tmp_path / "run"
    p = cli(w, "--config.epochs=4000", "--config.checkpoint_every=4000", "--config.chunk_epochs=5", wait=False)
    while p.poll() is None and not (w / "ReLU" / "metrics.npz").exists():
        time.sleep(0.02)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 128 + signal.SIGINT, err
    assert "SIGINT received: stopping after this chunk" in out
    epoch = checkpoint.steps(w / "ReLU")[-1]
    assert 0 < epoch < 4000 and f"interrupted at epoch {epoch} of ReLU; rerun the same command" in err
    assert folder.load_metrics(w / "ReLU")["epoch"][-1] == epoch
