"""Provenance on every read: a checkpoint, summary.json or stats.json moved, swapped, renamed or copied in from
another variant or run is named, not used; a variant folder without config.json is refused for another run's
config; writers never follow a planted link; a variant folder that cannot be read is never left out silently.
All on copies of the session's smoke folder (ReLU and Abs2-Neg, checkpoints at 0, 10, 20)."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from distnet import data
from distnet.analysis import analyze, report
from distnet.run import files, fit, folder, preflight, provenance, resume


@pytest.fixture
def run(smoke_run, tmp_path):
    w = tmp_path / "run"
    shutil.copytree(smoke_run, w, symlinks=True)
    return w


def _swap(a, b):
    aside = a.with_name(a.name + ".aside")
    a.rename(aside)
    b.rename(a)
    aside.rename(b)


def test_a_checkpoint_swapped_between_variants_is_refused_by_every_reader(run):
    for step in (0, 20):
        _swap(run / "ReLU" / "checkpoints" / str(step), run / "Abs2-Neg" / "checkpoints" / str(step))
    for step in (0, 20, None):
        with pytest.raises(provenance.Foreign, match="belongs to another run or variant .*variant 'Abs2-Neg' "
                                                     "\\(this folder: 'ReLU'\\)"):
            folder.load_params(run / "ReLU", step)
    with pytest.raises(provenance.Foreign):
        fit.load(run / "Abs2-Neg")
    # train.py sees it too: the finished variant is reopened and recomputed from the checkpoint that verifies
    assert "belongs to another run" in resume.finished_problem(run / "ReLU", _plan(run))
    folder.load_params(run / "ReLU", 10)          # its own checkpoint still reads


def _plan(run):
    from distnet.run import plan
    from helpers import load_config
    cfg = load_config("smoke")
    return plan.make(cfg, data.load(cfg.data), backend="cpu")


def test_a_checkpoint_of_an_older_distnet_is_still_tied_to_its_metrics(run, monkeypatch):
    """Without an owner recorded (an older distnet), the metrics digest saved with it still ties it to its folder."""
    from distnet.run import checkpoint
    recorded = checkpoint.recorded
    monkeypatch.setattr(checkpoint, "recorded", lambda *a, **k: {
        k: v for k, v in recorded(*a, **k).items() if k != "owner"})
    _swap(run / "ReLU" / "checkpoints" / "20", run / "Abs2-Neg" / "checkpoints" / "20")
    with pytest.raises(provenance.Foreign, match="does not go with"):
        folder.load_params(run / "ReLU")


def test_variant_folders_renamed_to_each_others_names_are_refused(run):
    _swap(run / "ReLU", run / "Abs2-Neg")
    with pytest.raises(files.RunFileError, match="records the variant 'Abs2-Neg' but lies in the folder 'ReLU'"):
        folder.read_config(run / "ReLU")
    with pytest.raises(files.RunFileError):
        folder.load(run)
    assert report.main([str(run)]) == 2 and not (run / "report").exists()


def _edit(path, change):
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


def test_a_summary_copied_from_a_run_with_another_seed_is_refused(run):
    p = run / "ReLU" / "summary.json"
    mine = json.loads(p.read_text())

    def other_seed(s):
        s["seed"], s["owner"]["config"]["seed"], s["final_test_acc"] = 1, 1, [0.5, 0.25]
    _edit(p, other_seed)
    with pytest.raises(files.RunFileError, match="is not the summary of this folder's run .*seed 1 \\(this folder: 0"):
        folder.is_complete(run / "ReLU")         # what train.py asks before "finished earlier, skipping"
    # one written before summaries recorded their owner: checked by its seed and final accuracies
    old = {k: v for k, v in mine.items() if k not in ("owner", "metrics_sha256")}
    p.write_text(json.dumps(old))
    assert folder.read_summary(run / "ReLU")["final_test_acc"] == mine["final_test_acc"]
    p.write_text(json.dumps({**old, "final_test_acc": [0.5, 0.25]}))
    with pytest.raises(files.RunFileError, match="final accuracies"):
        folder.read_summary(run / "ReLU")
    shutil.copy(run / "Abs2-Neg" / "summary.json", p)
    with pytest.raises(files.RunFileError, match="variant 'Abs2-Neg'"):
        folder.read_summary(run / "ReLU")


def test_stats_of_another_variant_are_refused(run):
    folder.write_stats(run / "Abs2-Neg", {"variant": "Abs2-Neg", "step": 20})
    shutil.copy(run / "Abs2-Neg" / folder.STATS_FILE, run / "ReLU" / folder.STATS_FILE)
    with pytest.raises(files.RunFileError, match="another run's or variant's statistics"):
        folder.load_stats(run / "ReLU")
    assert folder.load_stats(run / "Abs2-Neg")["step"] == 20


def test_a_folder_whose_config_json_was_deleted_is_refused_for_another_lr(run, smoke_cfg):
    (run / "ReLU" / "config.json").unlink()
    shutil.rmtree(run / "Abs2-Neg")
    ds = data.load(smoke_cfg.data)
    first = {"split": "off", "parts": 0}
    preflight.check_folder(smoke_cfg, run, ["ReLU"], ds.info, first)          # the same run: goes on
    smoke_cfg.lr = 0.01
    with pytest.raises(Exception, match="no config.json, and its checkpoint at epoch 20 is another run's: "
                                        "config.lr 0.05 \\(now: 0.01\\)"):
        preflight.check_folder(smoke_cfg, run, ["ReLU"], ds.info, first)
    assert not (run / "ReLU" / "config.json").exists()                       # nothing recorded over it
    shutil.rmtree(run / "ReLU" / "checkpoints")
    with pytest.raises(Exception, match="no checkpoint recording whose run"):
        preflight.check_folder(smoke_cfg, run, ["ReLU"], ds.info, first)


@pytest.mark.parametrize("name", ["stats.json", "summary.md", "metrics.npz"])
def test_a_planted_tmp_link_is_removed_never_written_through(tmp_path, name):
    outside = tmp_path / "outside"
    outside.write_text("keep")
    (tmp_path / "run").mkdir()
    os.symlink(outside, tmp_path / "run" / f"{name}.tmp")
    files.write_text(tmp_path / "run" / name, "new")
    assert outside.read_text() == "keep"
    assert not (tmp_path / "run" / name).is_symlink() and (tmp_path / "run" / name).read_text() == "new"
    os.symlink(outside, tmp_path / "run" / "final")          # a link at the final name is replaced, not followed
    files.write_text(tmp_path / "run" / "final", "new")
    assert outside.read_text() == "keep" and not (tmp_path / "run" / "final").is_symlink()


@pytest.mark.parametrize("kind", ["link", "folder"])
def test_a_lock_file_that_is_a_link_or_a_folder_is_refused(tmp_path, kind):
    outside = tmp_path / "outside"
    outside.write_text("keep")
    (tmp_path / "run").mkdir()
    lock = tmp_path / "run" / folder.LOCK_FILE
    os.symlink(outside, lock) if kind == "link" else lock.mkdir()
    with pytest.raises(files.RunFileError, match="is a link or not a plain file"):
        with folder.lock(tmp_path / "run", "test"):
            pass
    assert outside.read_text() == "keep"


def test_a_variant_folder_without_config_json_is_named_by_every_reader(run):
    (run / "Abs2-Neg" / "config.json").unlink()
    says = "variant folder\\(s\\) of .* cannot be read: .*Abs2-Neg \\(it has no readable config.json\\)"
    for read in (folder.load, folder.to_dataframe):
        with pytest.raises(files.RunFileError, match=says):
            read(run)
    assert analyze.main([str(run)]) == 2
    (run / "notes").mkdir()                    # a folder of the user's own, holding no run files, is no variant
    (run / "Abs2-Neg").rename(run / "elsewhere")
    shutil.rmtree(run / "elsewhere")
    assert list(folder.load(run)) == ["ReLU"]


def test_a_variant_folder_that_cannot_be_read_is_named(run, monkeypatch):
    (run / "Abs2-Neg" / "config.json").unlink()
    listdir = os.listdir

    def denied(p="."):
        if str(p).endswith("Abs2-Neg"):
            raise PermissionError(13, "Permission denied", str(p))
        return listdir(p)
    monkeypatch.setattr(os, "listdir", denied)
    with pytest.raises(files.RunFileError, match="Abs2-Neg \\(Permission denied\\)"):
        folder.load(run)


def test_damaged_files_are_one_sentence_not_a_traceback_or_a_hang(run):
    truth = run / "ReLU" / folder.TRUTH_FILE
    truth.write_bytes(truth.read_bytes()[: truth.stat().st_size // 2])
    with pytest.raises(files.RunFileError, match="truth.npz is damaged"):
        folder.load_truth(run / "ReLU")
    (run / "ReLU" / folder.STATS_FILE).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(files.RunFileError, match="stats.json is damaged"):
        folder.load_stats(run / "ReLU")
    (run / "Abs2-Neg" / "config.json").unlink()
    os.mkfifo(run / "Abs2-Neg" / "config.json")
    with pytest.raises(files.RunFileError, match="config.json is damaged .*not a regular file"):
        folder.read_config(run / "Abs2-Neg")
    (run / "Abs2-Neg" / "metrics.npz").unlink()
    os.mkfifo(run / "Abs2-Neg" / "metrics.npz")
    with pytest.raises(files.RunFileError, match="metrics.npz is damaged .*not a regular file"):
        folder.load_metrics(run / "Abs2-Neg")
    np.testing.assert_equal(folder.load_metrics(run / "ReLU")["epoch"][-1], 20)


def test_a_report_that_lacks_variants_the_previous_one_held_says_so(tmp_path):
    from distnet.analysis import report_files
    (tmp_path / "report").mkdir()
    files.write_json(tmp_path / "report" / "report.json", {"variants": [{"name": "ReLU"}, {"name": "Abs2-Neg"}],
                                                           "unfinished": [{"name": "Abs"}]})
    now = {"variants": [{"name": "ReLU"}], "unfinished": []}
    assert report_files.gone(tmp_path, now) == ["Abs", "Abs2-Neg"]
    md = report_files.with_gone("# Report\nbody\n", ["Abs", "Abs2-Neg"])
    assert md.splitlines()[0] == "# Report" and "previous report held them" in md and "Abs, Abs2-Neg" in md
    assert report_files.gone(tmp_path / "nowhere", now) == [] and report_files.with_gone("x", []) == "x"


def test_a_folder_named_twice_is_reported_once(run, monkeypatch):
    seen = []
    monkeypatch.setattr(report, "write", lambda dirs, out=None: seen.append(dirs))
    assert report.main([str(run), str(run / ".." / "run")]) == 0 and seen == [[str(run)]]


def test_a_damaged_epoch_0_checkpoint_of_a_finished_variant_is_recomputed_by_train_py(run, smoke_run, smoke_cfg):
    from distnet.analysis import stats
    from distnet.run import study
    part = max((run / "ReLU" / "checkpoints" / "0").rglob("ocdbt.process_0/d/*"), key=lambda p: p.stat().st_size)
    b = bytearray(part.read_bytes())
    b[len(b) // 2] ^= 0x40
    part.write_bytes(bytes(b))
    assert "is damaged" in resume.finished_problem(run / "ReLU", _plan(run))   # not "finished earlier, skipping"
    logs = []
    smoke_cfg.variants = "ReLU"
    study.run_all(smoke_cfg, run, log=logs.append, summarize=stats.summary_statistics)
    assert any("recomputing it from the seeds" in line for line in logs), logs
    again, first = folder.load_params(run / "ReLU", 0), folder.load_params(smoke_run / "ReLU", 0)
    assert all(np.array_equal(a, b) for a, b in zip(*map(jax_leaves, (again, first))))       # bit for bit
    assert folder.is_complete(run / "ReLU") and resume.finished_problem(run / "ReLU", _plan(run)) is None


def jax_leaves(tree):
    import jax
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def test_overwrite_of_a_variant_folder_that_is_a_link_removes_the_link_only(run, tmp_path):
    outside = tmp_path / "outside"
    (run / "ReLU").rename(outside)
    os.symlink(outside, run / "ReLU")
    preflight.remove_variant(run / "ReLU")
    assert not os.path.lexists(run / "ReLU") and (outside / "config.json").exists()
    assert not list(run.glob("*" + preflight.DELETING + "*"))


def test_a_resume_with_other_library_versions_is_said_aloud(run, smoke_cfg):
    _edit(run / "ReLU" / "config.json", lambda r: r["versions"].update(jax="0.0.1"))
    logs = []
    preflight.check_folder(smoke_cfg, run, ["ReLU"], data.load(smoke_cfg.data).info, {"split": "off", "parts": 0},
                           log=logs.append)
    assert any("started with jax 0.0.1, now jax " in line and "may not be bit-identical" in line
               for line in logs), logs


def test_an_empty_metrics_csv_of_a_finished_variant_is_rewritten(run):
    from distnet.run import study
    want = (run / "ReLU" / "metrics.csv").read_text()
    (run / "ReLU" / "metrics.csv").write_text("")
    assert study.prepare(run / "ReLU", folder.read_config(run / "ReLU"), None, _plan(run), print) is not None
    assert (run / "ReLU" / "metrics.csv").read_text() == want
