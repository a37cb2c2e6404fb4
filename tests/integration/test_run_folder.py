"""Divergence (NaN/Inf in the loss or the params), the work-folder checks, and resuming with another config."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from distnet import config
from distnet.run import files, folder, preflight, study

from runcheck import VARIANTS


def test_other_config_refused_then_overwritten(cli, reference, smoke_cfg, tmp_path):
    w = tmp_path / "run"
    shutil.copytree(reference, w)
    def files_now():   # every file but the lock, which each process that opens the folder writes its name into
        return {p: p.stat().st_mtime_ns for p in w.rglob("*") if p.is_file() and p.name != folder.LOCK_FILE}
    before = files_now()
    smoke_cfg.seed = 1
    with pytest.raises(config.ConfigError, match=r"different config \(seed \(folder: 0, now: 1\)\).*--overwrite"):
        study.run_all(smoke_cfg, w, log=lambda *a: None)
    assert before == files_now()

    r = cli(w, "--config.seed=1", "--overwrite")
    assert r.returncode == 0, r.stderr
    for v in VARIANTS:
        assert folder.read_json(w / v / "config.json")["protocol"]["seed"] == 1
        assert not np.array_equal(folder.load_metrics(w / v)["test_acc"], folder.load_metrics(reference / v)["test_acc"])


def test_overwrite_deletes_only_differing_variants(reference, smoke_cfg, tmp_path):
    w = tmp_path / "run"
    shutil.copytree(reference, w)
    rec = folder.read_json(w / "Abs2-Neg" / "config.json")
    rec["config"]["lr"] = 0.5
    files.write_json(w / "Abs2-Neg" / "config.json", rec)
    logs = []
    info = folder.read_config(w / "ReLU")["data"]
    preflight.check_folder(smoke_cfg, w, list(VARIANTS), info, rec["first_layer"], overwrite=True, log=logs.append)
    assert (w / "ReLU" / "summary.json").exists() and not (w / "Abs2-Neg").exists()
    assert "Abs2-Neg: --overwrite: deleting" in logs[0]
