"""A damaged, raced or swapped run folder through the real command lines: caught, named in one sentence (exit 2)
or recovered from, and a recovered run ends bit for bit where an uninterrupted one does (CPU).

smoke: 20 epochs in chunks of 5, checkpoints at 0, 10, 20; variants ReLU then Abs2-Neg."""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from distnet.run import checkpoint, folder

from helpers import DAMAGED_FILES, ROOT, SRC, idx_bytes, make_idx_folder
from runcheck import VARIANTS, assert_same_run


def _one_line(r, *texts):
    """Exit code 2, stderr ending in one "error: ..." sentence holding every text, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Traceback" not in r.stderr, r.stderr[-3000:]
    for t in texts:
        assert t in last, (t, last)
    return last


def _flip(path):
    b = bytearray(path.read_bytes())
    b[len(b) // 2] ^= 0x40
    path.write_bytes(bytes(b))


def _array_file(vdir, step):
    return max((vdir / "checkpoints" / str(step)).rglob("ocdbt.process_0/d/*"), key=lambda p: p.stat().st_size)


def _copy(reference, tmp_path):
    w = tmp_path / "run"
    shutil.copytree(reference, w)
    return w


# --- damaged checkpoints: the run falls back to the newest that verifies and ends bit-identical -------------

def test_damaged_checkpoints_fall_back_and_the_rerun_is_bit_identical(cli, reference, tmp_path):
    w = _copy(reference, tmp_path)
    _flip(_array_file(w / "ReLU", 20))                                      # bit rot in a final checkpoint
    (w / "Abs2-Neg" / "checkpoints" / "20" / "default" / "_METADATA").unlink()
    r = cli(w)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"ReLU: checkpoint {w / 'ReLU' / 'checkpoints' / '20'} is damaged (its params hash to " in r.stdout
    assert (f"Abs2-Neg: checkpoint {w / 'Abs2-Neg' / 'checkpoints' / '20'} is damaged (its array metadata, "
            f"default/_METADATA, is missing)" in r.stdout)
    for v in VARIANTS:
        assert f"{v}: finished earlier, but its newest checkpoint or metrics.npz does not verify" in r.stdout
        assert f"{v}: resuming from the checkpoint at epoch 10" in r.stdout
    assert_same_run(w, reference)


def test_a_checkpoint_cut_in_half_before_a_resume_is_skipped_aloud(cli, reference, tmp_path):
    w = tmp_path / "run"
    r = cli(w, fault="after:chunk_done:3:SIGTERM")                        # stops at epoch 15 with a checkpoint
    assert r.returncode == 128 + signal.SIGTERM and checkpoint.steps(w / "ReLU") == [0, 10, 15]
    f = _array_file(w / "ReLU", 15)
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    r = cli(w)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"ReLU: checkpoint {w / 'ReLU' / 'checkpoints' / '15'} is damaged (" in r.stdout
    assert ("ReLU: discarding the checkpoints at [15], newer than the newest one that verifies (epoch 10)"
            in r.stdout)
    assert_same_run(w, reference)


def test_metrics_older_than_the_checkpoint_restart_from_the_newest_consistent_point(cli, reference, tmp_path):
    """metrics.npz replaced by an older copy (epochs 0-5) while the newest checkpoint is at 10."""
    w = _copy(reference, tmp_path)
    vdir = w / "ReLU"
    shutil.rmtree(vdir / "checkpoints" / "20")                            # unfinished: a kill after epoch 10
    (vdir / "summary.json").unlink()
    m = folder.load_metrics(vdir)
    keep = m["epoch"] <= 5
    folder.save_metrics(vdir, m["epoch"][keep], {k: m[k][:, keep] for k in folder.METRICS})
    r = cli(w)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "metrics.npz does not hold every epoch up to the checkpoint at epoch 10 (it ends at epoch 5" in r.stdout
    assert "ReLU: discarding the checkpoints at [10], newer than the newest one that verifies (epoch 0)" in r.stdout
    assert_same_run(w, reference)


# --- what a resume must keep ----------------------------------------------------------------------------------

def test_a_resume_with_another_seed_chunk_or_split_is_refused_naming_the_field(cli, reference, tmp_path):
    w = _copy(reference, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in w.rglob("*") if p.is_file() and p.name != folder.LOCK_FILE}
    _one_line(cli(w, "--config.seed_chunk=1"), "different config (seed_chunk (folder: 0, now: 1))", "--overwrite")
    _one_line(cli(w, "--config.split=bf16"), "first layer (folder: {'split': 'off', 'parts': 0}, now: {'split': 'bf16'")
    assert before == {p: p.stat().st_mtime_ns for p in w.rglob("*") if p.is_file() and p.name != folder.LOCK_FILE}


def _idx_run(cli, w, data_dir, *flags, **kw):
    return cli(w, "--config.data.name=mnist", "--config.data.source=idx", f"--config.data.dir={data_dir}",
               "--config.data.n_train=0", "--config.data.n_test=0", *flags, **kw)


def test_swapped_data_is_refused_by_digest_and_a_respelled_data_dir_is_not(cli, tmp_path):
    src = make_idx_folder(tmp_path / "data" / "mnist")
    w = tmp_path / "run"
    r = _idx_run(cli, w, src, fault="after:chunk_done:1:SIGTERM")           # stopped at epoch 5
    assert r.returncode == 128 + signal.SIGTERM, r.stderr[-3000:]
    trained = folder.read_config(w / "ReLU")["data"]["files"]["train-images-idx3-ubyte"]["sha256"]
    original = (src / "train-images-idx3-ubyte.gz").read_bytes()
    sums = (src / "SHA256SUMS").read_text()
    # other images in their place, with a SHA256SUMS that matches them
    other = np.random.default_rng(7).integers(0, 256, (30, 4, 4))
    (src / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(other), mtime=0))
    digest = hashlib.sha256(idx_bytes(other)).hexdigest()
    (src / "SHA256SUMS").write_text(sums.replace(trained, digest))
    _one_line(_idx_run(cli, w, src), f"{w / 'ReLU'} holds a run with a different config (data: "
              f"train-images-idx3-ubyte.gz in {src.resolve()} has SHA-256 {digest[:16]}... but the run trained on "
              f"{trained[:16]}...)")
    (src / "train-images-idx3-ubyte.gz").write_bytes(original)
    (src / "SHA256SUMS").write_text(sums)
    r = _idx_run(cli, w, tmp_path / "data" / ".." / "data" / "mnist")      # the same folder, spelled otherwise
    assert r.returncode == 0, r.stderr[-3000:]
    assert "ReLU: resuming from the checkpoint at epoch 5" in r.stdout


# --- one writer per folder ----------------------------------------------------------------------------------------

def _stopped(pid):
    """The process is stopped (SIGSTOP): state T in /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "T"


def test_a_second_train_py_on_a_folder_is_refused_naming_the_first(cli, tmp_path):
    """The first stops itself after its first chunk (holding the lock, however slow the machine), the second is
    refused, then the first goes on and finishes with every listed checkpoint restorable."""
    w = tmp_path / "run"
    first = cli(w, fault="after:chunk_done:1:SIGSTOP", wait=False)
    while first.poll() is None and not _stopped(first.pid):
        time.sleep(0.05)
    second = cli(w)
    first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    _one_line(second, f"{w} is in use by train.py (", f"(pid {first.pid} on ", "wait for it to finish")
    for v in VARIANTS:                                     # every listed checkpoint restores and verifies
        assert checkpoint.steps(w / v) == [0, 10, 20]
        for step in checkpoint.steps(w / v):
            checkpoint.restore(w / v, step)
        assert folder.is_complete(w / v)


# --- each damaged file: one sentence naming it, exit 2 -----------------------------------------------------------

DAMAGED = {k: v for k, v in DAMAGED_FILES.items() if not k.startswith("stats.json")}   # train reads no stats


def test_each_damaged_run_file_is_one_sentence_naming_it(cli, reference, tmp_path):
    runs = {}
    for case, (name, damage, _) in DAMAGED.items():
        w = _copy(reference, tmp_path / case.replace(" ", "_"))
        damage(w / "ReLU" / name)
        runs[case] = (w, cli(w, wait=False))
    w_debug = _copy(reference, tmp_path / "debug")
    (w_debug / "ReLU" / "config.json").write_text("[]")
    debug = cli(w_debug, "--debug", wait=False)
    for case, (w, p) in runs.items():
        _, p.stderr = p.communicate(timeout=300)
        name, _, says = DAMAGED[case]
        _one_line(p, f"error: {w / 'ReLU' / name} {says}")
    _, err = debug.communicate(timeout=300)
    assert debug.returncode != 0 and "Traceback" in err and "RunFileError" in err


def test_a_file_size_limit_inside_a_checkpoint_write_is_one_sentence_then_resumes(cli, reference, tmp_path):
    w = tmp_path / "run"
    r = cli(w, fault="after:chunk_done:2:FSIZE")            # every write after epoch 10's metrics fails (EFBIG)
    _one_line(r, f"a file reached the file-size limit (ulimit -f) writing {w / 'ReLU' / 'checkpoints' / '10'}; "
                 f"free some space (or raise the limit) and rerun the same command to resume")
    assert checkpoint.steps(w / "ReLU") == [0]
    r = cli(w)
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_run(w, reference)


# --- a killed report ------------------------------------------------------------------------------------------

def _report(run, out, fault=None):
    env = {**{k: v for k, v in os.environ.items() if k != "DISTNET_FAULT"}, "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": str(SRC), **({"DISTNET_FAULT": fault} if fault else {})}
    return subprocess.run([sys.executable, "-m", "distnet.analysis.report", str(run), "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def _files(out):
    return {p.relative_to(out / "report"): p.read_bytes() for p in (out / "report").rglob("*") if p.is_file()}


@pytest.mark.parametrize("fault", ["after:final_accuracy.png_tmp_written:1",    # while writing a figure
                                   "after:report.md_tmp_written:1", "after:report_link_made:1"])
def test_a_killed_report_leaves_the_previous_one_whole(reference, tmp_path, fault):
    """A report of both variants, then one of ReLU alone (every file differs) into the same folder, killed: the
    first report stays, every file of it; the rerun replaces all of them."""
    from distnet.analysis import report
    out, relu_only = tmp_path / "out", tmp_path / "relu_only"
    shutil.copytree(reference / "ReLU", relu_only / "ReLU")
    assert report.main([str(reference), "--out", str(out)]) == 0
    before = _files(out)
    assert len(before) >= 5
    r = _report(relu_only, out, fault)
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    assert _files(out) == before
    r = _report(relu_only, out)
    assert r.returncode == 0, r.stderr[-3000:]
    after, md, curves = _files(out), Path("report.md"), Path("figures") / "learning_curves.png"
    text = after[md].decode()             # the new report: ReLU's row alone (the paper's own test rows name others)
    assert after[md] != before[md] and after[curves] != before[curves]
    assert "| ReLU | complete |" in text and "| Abs2-Neg | complete |" not in text
    assert [p.name for p in out.iterdir() if p.name.startswith(".report")] == [os.readlink(out / "report")]
