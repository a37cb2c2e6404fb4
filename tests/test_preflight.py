"""distnet.preflight: --overwrite never leaves part of an old run under the variant's name."""
from __future__ import annotations

import shutil

import pytest

from distnet import config, preflight, runs


def _old_run(cfg, workdir, variant="ReLU"):
    vdir = runs.variant_dir(workdir, variant)
    runs.write_json(vdir / "config.json", {"protocol": {**config.protocol(cfg), "lr": 0.5}})
    runs.write_json(vdir / "summary.json", {"status": "complete"})
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
    runs.write_json(left / "summary.json", {"status": "complete"})
    preflight.check(smoke_cfg, tmp_path, ["ReLU"], classes=10, dim=16)
    assert not left.exists()
