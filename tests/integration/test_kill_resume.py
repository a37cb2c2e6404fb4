"""Kill a real train.py subprocess with SIGKILL at exact moments (DISTNET_FAULT) and at random times, rerun the
same command, and require the result to equal an uninterrupted run's bit for bit (CPU)."""
from __future__ import annotations

import random
import shutil
import signal
import time

from distnet.run import checkpoint, folder

from runcheck import assert_same_run

KILLED = -signal.SIGKILL


def _killed(r):
    assert r.returncode == KILLED, f"expected a SIGKILL, got rc={r.returncode}\n{r.stderr[-2000:]}"


def test_same_command_twice_is_bit_identical(cli, reference, tmp_path):
    r = cli(tmp_path / "again")
    assert r.returncode == 0, r.stderr
    assert_same_run(tmp_path / "again", reference)
    # the end of a run names what to do next with this folder; the first variant's progress foresees the second's
    assert f"next: python -m distnet.analysis.analyze {tmp_path / 'again'}" in r.stdout
    assert f"python -m distnet.analysis.report {tmp_path / 'again'}" in r.stdout
    assert "whole run ~" in r.stdout


def test_kill_at_every_write_then_resume(cli, reference, tmp_path):
    """One folder, killed at eight moments in turn (each rerun resumes the previous kill), then finished.

    smoke: 20 epochs in chunks of 5, checkpoints at 0, 10, 20; variants ReLU then Abs2-Neg."""
    w = tmp_path / "run"
    relu, abs2 = w / "ReLU", w / "Abs2-Neg"

    # 0. mid-write of the variant's config.json, before anything trained
    _killed(cli(w, fault="after:config.json_tmp_written:1"))
    assert (relu / "config.json.tmp").exists() and not (relu / "config.json").exists()

    # 1. mid-write of metrics.npz at epoch 10 (tmp written, not renamed): the old file (epoch 5) stays valid
    _killed(cli(w, fault="after:metrics.npz_tmp_written:3"))
    assert (relu / "metrics.npz.tmp").exists() and folder.load_metrics(relu)["epoch"][-1] == 5
    assert checkpoint.steps(relu) == [0]

    # 2. between the Orbax step at epoch 10 and its sidecar JSON
    _killed(cli(w, fault="after:checkpoint_saved:1"))
    assert checkpoint.steps(relu) == [0, 10] and not (relu / "checkpoints" / "10.json").exists()

    # 3. after the metrics of epoch 20, before its checkpoint: metrics run past the latest checkpoint;
    #    then plant what a kill inside Orbax's write of step 20 leaves: a tmp folder (wrong params inside)
    _killed(cli(w, fault="after:chunk_done:2"))
    assert folder.load_metrics(relu)["epoch"][-1] == 20 and checkpoint.steps(relu) == [0, 10]
    shutil.copytree(relu / "checkpoints" / "10", relu / "checkpoints" / "20.orbax-checkpoint-tmp-1700000000")
    assert checkpoint.steps(relu) == [0, 10]

    # 4. mid-write of the variant's summary.json: the variant must not count as finished
    _killed(cli(w, fault="after:summary.json_tmp_written:1"))
    assert (relu / "summary.json.tmp").exists() and not (relu / "summary.json").exists()
    assert not list(relu.glob("checkpoints/*orbax-checkpoint-tmp*"))    # the leftover was removed

    # 5. between variants: ReLU finished, Abs2-Neg not started
    _killed(cli(w, fault="after:variant_done:1"))
    assert folder.is_complete(relu) and not abs2.exists() and not (w / "summary.json").exists()

    # 6. in the second variant, after the metrics of epoch 15
    _killed(cli(w, fault="after:chunk_done:3"))
    assert folder.load_metrics(abs2)["epoch"][-1] == 15 and checkpoint.steps(abs2) == [0, 10]

    # 7. mid-write of the run's summary.json (ReLU skipped, Abs2-Neg's summary is write 1)
    r = cli(w, fault="after:summary.json_tmp_written:2")
    _killed(r)
    assert "ReLU: finished earlier, skipping" in r.stdout
    assert (w / "summary.json.tmp").exists() and not (w / "summary.json").exists()

    r = cli(w)
    assert r.returncode == 0, r.stderr
    assert_same_run(w, reference)


def _mtimes(w):
    return {p: p.stat().st_mtime_ns for p in w.glob("*/metrics.npz")}


def test_sigkill_at_random_times_always_resumes_to_the_same_run(cli, tmp_path):
    """A real SIGKILL from the parent at seeded random moments while training runs (no hook involved).

    400 epochs in chunks of 5 with a checkpoint every 50, so kills land among many metrics and checkpoint
    writes; compared with an uninterrupted run of the same command."""
    flags = ("--config.epochs=400", "--config.checkpoint_every=50", "--config.chunk_epochs=5")
    r = cli(tmp_path / "ref", *flags)
    assert r.returncode == 0, r.stderr
    rng = random.Random(20250203)
    w = tmp_path / "run"
    landed = []
    for _ in range(4):
        before = _mtimes(w)
        p = cli(w, *flags, wait=False)
        while p.poll() is None and _mtimes(w) == before:    # wait until this process writes metrics
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 2.0))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.communicate(timeout=120)
        landed.append((p.returncode, {v.parent.name: (int(folder.load_metrics(v.parent)["epoch"][-1]),
                                                      checkpoint.steps(v.parent)[-1:], folder.is_complete(v.parent))
                                      for v in sorted(w.glob("*/metrics.npz"))}))
    print("\nrandom kills (rc, {variant: (last metrics epoch, last checkpoint, finished)}):", *landed, sep="\n  ")
    assert any(rc == KILLED for rc, _ in landed)
    r = cli(w, *flags)
    assert r.returncode == 0, r.stderr
    assert_same_run(w, tmp_path / "ref")
