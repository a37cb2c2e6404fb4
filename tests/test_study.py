"""distnet.run.study: the chunk loop compiles once, resumes to the bit, masks a diverged seed while the others
finish (and stops a variant only when every seed diverged), and
follows an independent float64 implementation on real MNIST."""
from __future__ import annotations

import json
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distnet import config, data
from distnet.nn import models
from distnet.run import checkpoint, files, folder, progress, protocol, study, trainer

import reference
from helpers import assert_leaves_close, assert_metrics_close, load_config, max_rel, near_ties, record_margin


def test_no_recompilation_inside_a_run(smoke_cfg, tmp_path, monkeypatch):
    lane = protocol.lane

    def counted(*args, **kwargs):
        t = lane(*args, **kwargs)
        return t._replace(run=chex.assert_max_traces(t.run, n=1))

    monkeypatch.setattr(protocol, "lane", counted)
    smoke_cfg.variants = "Abs"
    study.run_all(smoke_cfg, tmp_path, log=lambda *a: None)   # 4 chunks of 5 epochs, one trace
    assert folder.load_metrics(tmp_path / "Abs")["epoch"][-1] == 20


# Raw MNIST pixels at lr 1e-3, compared one epoch at a time from our own checkpoints: whole float32 and float64
# trajectories part there. Every epoch has first-layer pre-activations within 28 u sum|x||W1| of the ReLU/Abs kink
# (1-7 of the 256,000; u = 2^-24), the nearest 0.08 u (ReLU, epoch 3), so a float32 run takes the other branch for one
# of them in its gradient on one machine and not on another; the loss then moved by 1.4e-5 at the next epoch and
# 1.3e-4 by epoch 9 (ReLU), and Abs2-Neg multiplies any difference about tenfold per epoch.
# - the loss recorded for epoch e is at checkpoint e-1, the params numpy starts from: float32 forward rounding only
#   (the loss is continuous in the pre-activations, so no branch matters), measured <= 1.8e-7 relative over 4 ISA
#   levels, one core and 4 summation orders; 1e-5 is 50x that.
LOSS_RTOL = 1e-5
# - one float32 epoch against one float64 epoch from the same params, judged by the float64 loss where each lands:
#   rounding (<= 3e-7 measured) plus the kink branches flipped in that epoch's gradient. If every pre-activation (and,
#   for Abs2-Neg, every output) within 30 u sum|terms| of its kink flipped at once (1-9 of them per epoch; the float32
#   error of these pre-activations is <= 4 u sum|x||W1|, largest of 2e6 measured), the loss would move by at most
#   7.5e-5 (ReLU) and 1.4e-3 (Abs2-Neg) in any epoch (float64 experiment on this data); tolerances 4x and 2x that.
#   A learning rate 1% off moves it by 7.3e-4..7.6e-3 (ReLU) and 1.2e-2..1.5e-2 (Abs2-Neg) in every epoch.
STEP_RTOL = {"ReLU": 3e-4, "Abs2-Neg": 3e-3}
# - test accuracy at the same params: a prediction can differ only where the top two logits are closer than float32
#   rounding moves them, <= 1.6e-6 max|logit| here (measured); those within 1e-5 max|logit| may count either way (0-1
#   per epoch here; taking the accuracy before the update instead of after moves 6-98 examples per epoch).
TIE_RTOL = 1e-5


def test_real_mnist_epochs_match_numpy_from_each_checkpoint(mnist_dir, smoke_cfg, tmp_path):
    """The protocol on raw MNIST pixels: from each of our per-epoch checkpoints, one epoch of an independent float64
    numpy SGD reproduces the loss we recorded for that epoch, lands where our next checkpoint is, and our test accuracy
    there is the float64 one."""
    cfg = smoke_cfg
    cfg.variants, cfg.lr, cfg.hidden, cfg.num_seeds, cfg.epochs = "ReLU,Abs2-Neg", 1e-3, 128, 1, 10
    cfg.checkpoint_every, cfg.chunk_epochs = 1, 1
    cfg.data.name, cfg.data.dir, cfg.data.n_train, cfg.data.n_test = "mnist", str(mnist_dir), 2000, 1000
    study.run_all(cfg, tmp_path, log=lambda *a: None)
    ds = data.load(cfg.data)
    x, xt = ds.x_train.astype(np.float64), ds.x_test.astype(np.float64)
    for name in ("ReLU", "Abs2-Neg"):
        spec, m = models.REGISTRY[name], folder.load_metrics(tmp_path / name)
        ours = [reference.to64(jax.tree.map(lambda a: np.asarray(a)[0], checkpoint.restore(tmp_path / name, e)))
                for e in range(cfg.epochs + 1)]
        for e in range(1, cfg.epochs + 1):
            theirs, loss, _ = reference.sgd_step(spec, ours[e - 1], x, ds.y_train, cfg.lr)
            record_margin(f"{name} recorded loss vs float64", max_rel(m["train_loss"][0, e], loss), LOSS_RTOL)
            assert m["train_loss"][0, e] == pytest.approx(loss, rel=LOSS_RTOL), (name, e)
            landed, want = reference.loss(spec, ours[e], x, ds.y_train), reference.loss(spec, theirs, x, ds.y_train)
            record_margin(f"{name} one epoch vs float64 (loss where each lands)", max_rel(landed, want), STEP_RTOL[name])
            assert landed == pytest.approx(want, rel=STEP_RTOL[name]), (name, e)
            flips = abs(m["test_acc"][0, e] - reference.accuracy(spec, ours[e], xt, ds.y_test)) * len(xt)
            ties = near_ties(reference.forward(spec, ours[e], xt)[0], TIE_RTOL)
            record_margin(f"{name} test predictions apart (limit: near ties)", round(flips), ties)
            assert round(flips) <= ties, (name, e)


def test_resume_equals_an_uninterrupted_run(smoke_run, tmp_path):
    cfg = load_config("smoke")
    shutil.copytree(smoke_run, tmp_path / "run")
    vdir = tmp_path / "run" / "ReLU"
    # what a kill after epoch 10's checkpoint leaves: no final checkpoint, no summary, metrics past 10
    shutil.rmtree(vdir / "checkpoints" / "20")
    (vdir / "checkpoints" / "20.json").unlink()
    (vdir / "summary.json").unlink()
    logs = []
    study.run_all(cfg, tmp_path / "run", log=logs.append)
    assert any("resuming from the checkpoint at epoch 10" in line for line in logs)
    a, b = folder.load_metrics(smoke_run / "ReLU"), folder.load_metrics(vdir)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    for x, y in zip(jax.tree.leaves(checkpoint.restore(smoke_run / "ReLU")), jax.tree.leaves(checkpoint.restore(vdir)), strict=True):
        np.testing.assert_array_equal(x, y)


# the bound of tests/test_trainer.py's fast paths for the smoke run (20 epochs x 2 u x 1.7 = 4e-6, normwise)
RTOL_SMOKE = 1e-5


def test_seed_chunk_config_gives_the_same_run(smoke_run, tmp_path):
    cfg = load_config("smoke")
    cfg.seed_chunk = 1
    chunks = []          # the end-of-training statistics are told the chunk too (they bound their memory by it)
    study.run_all(cfg, tmp_path, log=lambda *a: None,
                  summarize=lambda model, params, ds, seed_chunk: chunks.append(seed_chunk) or {})
    assert chunks == [1, 1]
    for v in cfg.variants.split(","):
        a, b = folder.load_metrics(smoke_run / v), folder.load_metrics(tmp_path / v)
        np.testing.assert_array_equal(a["epoch"], b["epoch"])
        assert_metrics_close(b, a, RTOL_SMOKE, cfg.data.n_train, cfg.data.n_test)
        assert_leaves_close(checkpoint.restore(tmp_path / v), checkpoint.restore(smoke_run / v), RTOL_SMOKE)


def test_nan_loss_in_every_seed_stops_that_variant_only(smoke_cfg, tmp_path):
    """lr=1000 blows ReLU up in both seeds, so the variant stops (no lane is left); ReLU2 collapses to chance with
    finite numbers, which must be kept as complete."""
    smoke_cfg.lr, smoke_cfg.variants = 1000.0, "ReLU,ReLU2"
    logs = []
    study.run_all(smoke_cfg, tmp_path, log=logs.append)
    relu, relu2 = folder.read_json(tmp_path / "ReLU" / "summary.json"), folder.read_json(tmp_path / "ReLU2" / "summary.json")
    assert relu["status"] == "diverged" and relu["diverged_seeds"] == [0, 1]
    assert relu["diverged_epoch"] == min(d["epoch"] for d in relu["diverged_lanes"])
    msg = next(m for m in logs if "every lane" in m)
    assert msg.startswith("ReLU:") and "seed(s) [0, 1]" in msg and f"by epoch {relu['diverged_epoch']}" in msg
    assert relu2["status"] == "complete" and relu2["epochs"] == 20
    assert np.isfinite(folder.load_metrics(tmp_path / "ReLU2")["train_loss"]).all()
    assert [r["status"] for r in folder.read_json(tmp_path / "summary.json")["variants"]] == ["diverged", "complete"]


def poison_lanes(monkeypatch, lanes):
    """Make Trainer.run return NaN params for `lanes` after its first chunk (finite losses: only params are bad)."""
    real, calls = trainer.Trainer.run, []

    def run(self, params, hp, data, n, alive):
        p, went_bad, m = real(self, params, hp, data, n, alive)
        calls.append(1)
        if len(calls) == 1:
            mask = np.isin(np.arange(len(alive)), lanes)
            p = jax.tree_util.tree_map(lambda x: jnp.where(mask.reshape((-1,) + (1,) * (x.ndim - 1)), jnp.nan, x), p)
        return p, went_bad, m

    monkeypatch.setattr(trainer.Trainer, "run", run)


def test_nan_params_with_finite_loss_is_caught(smoke_cfg, tmp_path, monkeypatch):
    """Params can turn NaN in a chunk's last update while every recorded loss is still finite."""
    poison_lanes(monkeypatch, [0, 1])
    smoke_cfg.variants = "ReLU"
    logs = []
    study.run_all(smoke_cfg, tmp_path, log=logs.append)
    s = folder.read_json(tmp_path / "ReLU" / "summary.json")
    assert (s["status"], s["diverged_epoch"], s["diverged_seeds"]) == ("diverged", 5, [0, 1])
    assert np.isfinite(folder.load_metrics(tmp_path / "ReLU")["train_loss"]).all()
    assert any("by epoch 5" in m for m in logs)


def test_one_diverged_seed_no_longer_ends_the_others(smoke_run, smoke_cfg, tmp_path, monkeypatch):
    """Seed 1 goes bad after the first chunk: it is masked from then on and seed 0 trains to the end, to the bit
    what it does without seed 1's trouble (the smoke run)."""
    poison_lanes(monkeypatch, [1])
    smoke_cfg.variants = "ReLU"
    logs = []
    study.run_all(smoke_cfg, tmp_path, log=logs.append)
    s = folder.read_json(tmp_path / "ReLU" / "summary.json")
    assert s["status"] == "complete" and s["epochs"] == 20 and s["test_acc"]["n"] == 1
    assert s["diverged_lanes"] == [{"lane": 1, "seed": 1, "lr": 0.05, "init_scale": 1.0, "weight_decay": 0.0,
                                    "epoch": 5}]
    assert s["final_test_acc"][1] is None                      # NaN, written as JSON null
    assert any("seed 1 (epoch 5)" in m and "the other 1 lane(s) go on" in m for m in logs)
    ours, ref = folder.load_metrics(tmp_path / "ReLU"), folder.load_metrics(smoke_run / "ReLU")
    np.testing.assert_array_equal(ours["diverged_epoch"], [0, 5])
    for k in folder.METRICS:
        np.testing.assert_array_equal(ours[k][0], ref[k][0])
        assert np.isnan(ours[k][1, 6:]).all() and np.isfinite(ours[k][1, :6]).all()
    for x, y in zip(jax.tree.leaves(checkpoint.restore(tmp_path / "ReLU")),
                    jax.tree.leaves(checkpoint.restore(smoke_run / "ReLU")), strict=True):
        np.testing.assert_array_equal(np.asarray(x)[0], np.asarray(y)[0])


def test_mark_diverged_takes_the_programs_epoch_else_the_params_at_the_chunk_end():
    from distnet.run import resume
    params = {"w": jnp.ones((3, 4, 2)), "b": jnp.ones((3, 2)).at[2, 1].set(jnp.inf)}
    state = resume.State(10, params, {k: np.ones((3, 2)) for k in folder.METRICS}, np.array([0, 10]), 0.0,
                         np.array([0, 0, 0]))
    assert study.mark_diverged(state, 5, np.array([3, 0, 0])).tolist() == [0, 2]
    np.testing.assert_array_equal(state.diverged, [8, 0, 10])
    assert study.mark_diverged(state, 10, np.array([1, 0, 0])).size == 0     # a masked lane keeps its epoch
    np.testing.assert_array_equal(state.diverged, [8, 0, 10])


def test_a_bad_config_is_refused_before_anything_is_written_or_compiled(smoke_cfg, tmp_path):
    smoke_cfg.variants = "ReLU,Nope"
    with pytest.raises(config.ConfigError, match="unknown variant 'Nope'"):
        study.run_all(smoke_cfg, tmp_path / "w", log=lambda *a: None)
    assert not (tmp_path / "w").exists()


def test_progress_gives_the_whole_runs_time_left_from_this_variants_pace(monkeypatch):
    import io

    clock = iter([100.0, 110.0])                       # created at t=100, first report at t=110
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    out = io.StringIO()
    p = progress.Progress("ReLU", total=50, start=0, stream=out, later_epochs=100)
    p(10, np.array([0.5, 0.7]))
    line = out.getvalue()
    # 10 epochs took 10 s: 40 left in this variant (40 s), 100 in the variants after it (100 s)
    assert "epoch     10/50" in line and "40s left" in line and "(whole run ~2m20s left)" in line
    assert "test acc  60.00% [50.00, 70.00]" in line


def test_progress_of_the_last_variant_shows_no_whole_run_estimate():
    import io

    out = io.StringIO()
    progress.Progress("Abs", total=5, start=0, stream=out)(5, np.array([0.9]))
    assert "whole run" not in out.getvalue()


@pytest.mark.parametrize("seconds, text", [(42.4, "42s"), (425, "7m05s"), (3720, "1h02m"), (float("nan"), "?")])
def test_durations_read_as_people_write_them(seconds, text):
    assert progress._duration(seconds) == text


def test_tensorboard_logging_writes_every_recorded_epoch_and_leaves_the_numbers_alone(smoke_cfg, smoke_run,
                                                                                        tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = smoke_cfg.copy_and_resolve_references()
    cfg.tensorboard = True
    study.run_all(cfg, tmp_path, log=lambda *a: None)
    for v in config.variant_list(cfg):
        m = folder.load_metrics(tmp_path / v)
        np.testing.assert_array_equal(m["test_acc"], folder.load_metrics(smoke_run / v)["test_acc"])
        (logdir,) = {p.parent for p in (tmp_path / v / "tensorboard").glob("events.out.tfevents.*")}
        acc = EventAccumulator(str(logdir))
        acc.Reload()
        means = acc.Scalars("test_acc/mean")
        assert [e.step for e in means] == m["epoch"].tolist()
        np.testing.assert_allclose([e.value for e in means], m["test_acc"].mean(0), rtol=1e-6)  # float32 mean
        assert [e.value for e in acc.Scalars("train_loss/seed_01")] == m["train_loss"][1].tolist()


def _same_run(a, b, variants=("ReLU", "Abs2-Neg")):
    for v in variants:
        ma, mb = folder.load_metrics(a / v), folder.load_metrics(b / v)
        assert all(np.array_equal(ma[k], mb[k]) for k in ma), v
        for x, y in zip(jax.tree.leaves(checkpoint.restore(a / v)), jax.tree.leaves(checkpoint.restore(b / v)),
                        strict=True):
            np.testing.assert_array_equal(x, y)


def test_chunk_epochs_and_checkpoint_every_leave_every_number_bit_identical(smoke_run, tmp_path):
    """Why a resume need not compare them: a run in chunks of 10 with one checkpoint at the end, resumed from a
    folder chunked by 5, gives the uninterrupted run's exact numbers."""
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    vdir = run / "ReLU"
    shutil.rmtree(vdir / "checkpoints" / "20")          # a kill after epoch 10's checkpoint
    (vdir / "summary.json").unlink()
    cfg = load_config("smoke")
    cfg.chunk_epochs, cfg.checkpoint_every = 10, 20
    study.run_all(cfg, run, log=lambda *a: None)
    _same_run(smoke_run, run)


def test_a_different_seed_chunk_is_refused_on_resume(smoke_run):
    cfg = load_config("smoke")
    cfg.seed_chunk = 1          # another vmapped width: float reassociation changes the numbers (see above)
    with pytest.raises(config.ConfigError, match=r"different config \(seed_chunk \(folder: 0, now: 1\)\)"):
        study.run_all(cfg, smoke_run, log=lambda *a: None)


def test_a_finished_variant_with_a_damaged_final_checkpoint_is_trained_again_to_the_same_numbers(smoke_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    f = max((run / "ReLU" / "checkpoints" / "20").rglob("ocdbt.process_0/d/*"), key=lambda p: p.stat().st_size)
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0x40                               # bit rot in the params of the final checkpoint
    f.write_bytes(bytes(b))
    logs = []
    study.run_all(load_config("smoke"), run, log=logs.append)
    i = logs.index("ReLU: finished earlier, but its newest checkpoint or metrics.npz does not verify; training it "
                   "again from the newest checkpoint that does")
    assert logs[i + 1].startswith(f"ReLU: checkpoint {run / 'ReLU' / 'checkpoints' / '20'} is damaged (")
    assert logs[i + 2:i + 4] == ["ReLU: discarding the checkpoints at [20], newer than the newest one that verifies "
                                 "(epoch 10); training recomputes them", "ReLU: resuming from the checkpoint at epoch 10"]
    assert "Abs2-Neg: finished earlier, skipping" in " ".join(logs)
    _same_run(smoke_run, run)


def test_a_folder_another_process_writes_is_refused_before_anything_is_written(smoke_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    with folder.lock(run, "another writer"):
        before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
        with pytest.raises(files.Busy, match=f"{run} is in use by another writer \\(pid"):
            study.run_all(load_config("smoke"), run, log=lambda *a: None)
        assert before == {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}


def test_a_folder_an_older_distnet_finished_is_refused_and_left_as_it_is(smoke_run, tmp_path):
    """Checkpoints without a digest (what distnet wrote before digests: empty custom metadata) cannot be verified;
    the finished variant is neither retrained nor stripped of its summary."""
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    for f in (run / "ReLU" / "checkpoints").glob("*/_CHECKPOINT_METADATA"):
        rec = json.loads(f.read_text())
        rec["custom_metadata"] = {}
        f.write_text(json.dumps(rec))
    before = {p: p.read_bytes() for p in (run / "ReLU").rglob("*") if p.is_file()}
    with pytest.raises(files.RunFileError, match=r"none of the checkpoints of .*ReLU records a digest \(an older "
                                                 r"distnet wrote them\); finish or analyze the run with that version"):
        study.run_all(load_config("smoke"), run, log=lambda *a: None)
    assert before == {p: p.read_bytes() for p in (run / "ReLU").rglob("*") if p.is_file()}
