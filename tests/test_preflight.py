"""distnet.run.preflight: a run folder that cannot hold the run, or holds another, is refused before training."""
from __future__ import annotations

import shutil

import pytest

from distnet import config
from distnet.run import files, folder, preflight, study


def _old_run(cfg, workdir, variant="ReLU"):
    vdir = folder.variant_dir(workdir, variant)
    files.write_json(vdir / "config.json", {"protocol": {**config.protocol(cfg), "lr": 0.5}})
    files.write_json(vdir / "summary.json", {"status": "complete"})
    return vdir


def test_overwrite_killed_midway_leaves_nothing_under_the_variant_name(smoke_cfg, tmp_path, monkeypatch):
    vdir = _old_run(smoke_cfg, tmp_path)
    real = shutil.rmtree

    def killed(path, *a, **k):      # deletes config.json, then dies before summary.json
        (path / "config.json").unlink()
        raise KeyboardInterrupt
    monkeypatch.setattr(preflight.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        preflight.check_folder(smoke_cfg, tmp_path, ["ReLU"], overwrite=True, log=lambda *a: None)
    assert not vdir.exists()        # the old summary.json can no longer pass for the new run's
    assert len(list(tmp_path.glob("ReLU.deleting-*"))) == 1
    monkeypatch.setattr(preflight.shutil, "rmtree", real)
    preflight.remove_leftovers(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_check_finishes_an_interrupted_delete(smoke_cfg, tmp_path):
    left = tmp_path / "ReLU.deleting-123"
    files.write_json(left / "summary.json", {"status": "complete"})
    preflight.check(smoke_cfg, tmp_path, ["ReLU"], classes=10, dim=16)
    assert not left.exists()


def test_unwritable_workdir_refused_before_training(smoke_cfg, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(preflight.WorkdirError, match="cannot write to the work folder .*choose a writable"):
        study.run_all(smoke_cfg, tmp_path / "file" / "run", log=lambda *a: None)


def test_full_disk_refused_before_training(smoke_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 10**12, 2**20))
    with pytest.raises(preflight.WorkdirError, match=r"has 1 MiB free but this run needs about \d+ MiB"):
        study.run_all(smoke_cfg, tmp_path, log=lambda *a: None)
    assert not any(p.is_dir() for p in tmp_path.iterdir())


def test_estimate_counts_checkpoints(smoke_cfg):
    one = preflight.params_bytes(smoke_cfg, "ReLU", 10, 16)
    assert one > 0
    assert preflight.estimate_bytes(smoke_cfg, ["ReLU"], 10, 16) >= one * 2 * 3
