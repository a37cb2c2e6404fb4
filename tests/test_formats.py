"""config.json's format: records of older formats are brought forward by formats.migrate (the one place that knows
them), a newer one is refused; a folder written before format_version still resumes and analyses.

fixtures/format1/ReLU holds config.json and summary.json of a folder written by distnet before format_version
(python train.py --config configs/smoke.py --config.epochs=4 --config.checkpoint_every=2 --config.chunk_epochs=2
--config.eval_every=1); the rest of such a folder is trained here, then given that config.json.
"""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from distnet import config
from distnet.analysis import analyze, compare, stats
from distnet.run import folder, formats, study

FIXTURE = Path(__file__).parent / "fixtures" / "format1"
OLD = json.loads((FIXTURE / "ReLU" / "config.json").read_text())


def before_sweeps(record: dict) -> dict:
    """`record` as a distnet before sweeps, MD ranks and seed chunks wrote it: no lanes, sweep fields, md_rank or
    seed_chunk."""
    out = copy.deepcopy(record)
    out.pop("format_version", None)
    out.pop("lanes")
    for field in (*config.SWEEP_DEFAULTS, "md_rank", "seed_chunk"):
        out["config"].pop(field)
    return out


def test_a_record_without_format_version_migrates_to_the_current_one():
    assert "format_version" not in OLD
    new = formats.migrate(OLD, "x/ReLU/config.json")
    assert new["format_version"] == formats.CURRENT == 2
    assert {k: v for k, v in new.items() if k != "format_version"} == OLD
    assert "format_version" not in OLD          # the record read is left as it was


def test_a_record_from_before_sweeps_gains_what_todays_distnet_writes():
    new = formats.migrate(before_sweeps(OLD), "x/ReLU/config.json")
    assert new == {**OLD, "format_version": formats.CURRENT}
    assert new["config"]["md_rank"] == 0 and new["lanes"]["seed_index"] == [0, 1]


def test_a_current_record_is_read_as_it_is():
    record = {**OLD, "format_version": formats.CURRENT}
    assert formats.migrate(record, "x/ReLU/config.json") == record


def _written(tmp_path, record) -> Path:
    vdir = tmp_path / "run" / "ReLU"
    vdir.mkdir(parents=True)
    (vdir / "config.json").write_text(json.dumps(record))
    return vdir


def test_a_folder_newer_than_distnet_is_refused_in_one_sentence(tmp_path):
    vdir = _written(tmp_path, {**OLD, "format_version": formats.CURRENT + 1})
    with pytest.raises(folder.RunFileError) as e:
        folder.read_config(vdir)
    text = str(e.value)
    assert text.startswith(f"{vdir} was written by a newer distnet") and "upgrade distnet" in text
    assert f"format_version {formats.CURRENT + 1}" in text and ". " not in text and "\n" not in text


@pytest.mark.parametrize("bad", ["2", 0, 1.5, None])
def test_a_damaged_format_version_is_named(tmp_path, bad):
    vdir = _written(tmp_path, {**OLD, "format_version": bad})
    with pytest.raises(folder.RunFileError, match="is damaged"):
        folder.read_config(vdir)


def _smoke(smoke_cfg):
    smoke_cfg.epochs, smoke_cfg.checkpoint_every, smoke_cfg.chunk_epochs, smoke_cfg.eval_every = 4, 2, 2, 1
    return smoke_cfg


def test_a_folder_written_before_format_version_resumes_and_analyses(smoke_cfg, tmp_path):
    cfg, run = _smoke(smoke_cfg), tmp_path / "run"
    study.run_all(cfg, run, log=lambda *a: None)
    trained = {v: folder.load_metrics(run / v) for v in ("ReLU", "Abs2-Neg")}
    now = folder.read_config(run / "ReLU")
    assert now["format_version"] == formats.CURRENT
    # today's record is the fixture's plus its format_version, config.data.path (empty unless data.name=npz) and
    # config.widths (empty unless set; no reader needs it: a width is in its variant's name) (versions and the first
    # layer are the machine's)
    today = json.loads(json.dumps({k: v for k, v in now.items()
                                   if k not in ("format_version", "versions", "first_layer")}))
    assert today["config"]["data"].pop("path") == "" and today["config"].pop("widths") == []
    assert today == {k: v for k, v in OLD.items() if k not in ("versions", "first_layer")}
    old = {"ReLU": {**OLD, "first_layer": now["first_layer"]},          # written before format_version
           "Abs2-Neg": before_sweeps(folder.read_config(run / "Abs2-Neg"))}   # and before sweeps
    for v, record in old.items():
        (run / v / "config.json").write_text(json.dumps(record))
        (run / v / "summary.json").unlink()                       # unfinished at epoch 2: resumes from there
        shutil.rmtree(run / v / "checkpoints" / "4")
        (run / v / "checkpoints" / "4.json").unlink(missing_ok=True)
    said = []
    study.run_all(cfg, run, log=said.append, summarize=stats.summary_statistics)   # as train.py does
    assert sum("resuming from the checkpoint at epoch 2" in s for s in said) == 2
    for v, record in old.items():
        assert json.loads((run / v / "config.json").read_text()) == record   # the file is never rewritten
        again = folder.load_metrics(run / v)
        assert again.keys() == trained[v].keys()
        assert all(np.array_equal(again[k], trained[v][k]) for k in again)   # bit for bit
        assert folder.read_summary(run / v)["status"] == "complete"
        assert folder.metrics_rows(run / v)["seed"].tolist() == [0] * 5 + [1] * 5
    summary = json.loads((FIXTURE / "ReLU" / "summary.json").read_text())
    assert folder.read_summary(run / "ReLU").keys() == summary.keys()       # the summary keeps its shape
    assert analyze.main([str(run)]) == 0
    assert all((run / v / folder.STATS_FILE).exists() for v in old)
    rows = compare.gather([run])
    assert [(r["variant"], r["name"], r["seed_index"]) for r in rows] == [("ReLU", "ReLU", [0, 1]),
                                                                          ("Abs2-Neg", "Abs2-Neg", [0, 1])]
